package buildset

import (
	"fmt"
	"net/http"

	"github.com/shadowreg/shadowreg/internal/errcode"
)

// Errors of the manager. Each is answered to clients with its OCI error:
// a buildset that does not exist is NAME_UNKNOWN, one that exists already
// NAME_INVALID with 409, an invalid one NAME_INVALID. Errors made with
// errorf carry a fuller message and match their kind with errors.Is.
var (
	ErrNotFound error = &kind{errcode.NameUnknown, 0, "buildset not found"}
	ErrExists   error = &kind{errcode.NameInvalid, http.StatusConflict, "buildset exists"}
	ErrInvalid  error = &kind{errcode.NameInvalid, 0, "invalid buildset"}
)

// kind is one of the manager's errors.
type kind struct {
	code   errcode.Code
	status int
	msg    string
}

func (k *kind) Error() string { return k.msg }

func (k *kind) OCIError() *errcode.Error {
	return errcode.New(k.code, "%s", k.msg).WithStatus(k.status)
}

// detailed is an error of a kind with a message that says more.
type detailed struct {
	kind *kind
	msg  string
}

func (e *detailed) Error() string        { return e.msg }
func (e *detailed) Is(target error) bool { return target == error(e.kind) }
func (e *detailed) OCIError() *errcode.Error {
	return errcode.New(e.kind.code, "%s", e.msg).WithStatus(e.kind.status)
}

// errorf makes an error of kind k ("invalid buildset: …").
func errorf(k error, format string, args ...any) error {
	kk := k.(*kind)
	return &detailed{kind: kk, msg: kk.msg + ": " + fmt.Sprintf(format, args...)}
}
