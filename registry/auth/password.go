package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/shadowreg/shadowreg/internal/ref"
	"golang.org/x/crypto/bcrypt"
)

// account is a configured user, ready for password checks.
type account struct {
	User
	policy policy
	hashed bool     // Password is a bcrypt hash
	plain  [32]byte // SHA-256 of PlainPassword: comparing digests hides its length
	never  bool     // no usable password: nothing matches

	cacheKey string // verifiedKey, made with the account (accounts are shared)
}

// outcome of a password check.
type outcome int

const (
	authOK      outcome = iota
	badPassword         // a configured user, the wrong password
	unknownUser         // no such user here (docker sends its Docker Hub login to every mirror)
)

// UserSource supplies users that are not in the configuration, looked up
// by name when a request names them: the credentials of buildsets, which are
// created and deleted while the registry runs.
type UserSource interface {
	// User looks name up: ok false when the source has no such user; an
	// error when it cannot tell (its storage is out of reach), which fails
	// the request with 503 rather than refuse the credentials as wrong.
	User(ctx context.Context, name string) (u User, ok bool, err error)
	// Owns reports whether name is one of the source's, existing or not
	// (buildset-<id>): a name it owns but no longer has (the buildset
	// expired) is refused, never taken for a stranger's Docker Hub login and
	// let in anonymously, which would quietly serve the wrong images.
	Owns(name string) bool
}

// passwords checks user names and passwords in constant time.
type passwords struct {
	users  map[string]*account
	source UserSource // nil: configured users only
	names  ref.Names  // resolves prefixes

	// dummy is compared when the user does not exist, so that the answer
	// takes as long as for a user that does and user names cannot be found
	// by timing. It is a bcrypt hash at the highest configured cost when any
	// user has one, made on first use because bcrypt is deliberately slow.
	dummy func() *account

	// A client that sends Basic credentials straight to /v2/ is checked on
	// every request; bcrypt at cost 10 to 12 takes 50 to 250 ms of CPU each
	// time. verified remembers, per user, a keyed MAC of the last password
	// bcrypt accepted, so that repeated checks cost one HMAC. The key is
	// random per process and the MACs never leave memory.
	macKey   []byte
	macs     sync.Pool // of hash.Hash, HMAC-SHA256 keyed with macKey
	mu       sync.Mutex
	verified map[string][sha256.Size]byte
}

func newPasswords(users []User, names ref.Names) *passwords {
	p := &passwords{
		names:    names,
		users:    make(map[string]*account, len(users)),
		macKey:   []byte(rand.Text()),
		verified: make(map[string][sha256.Size]byte),
	}
	cost := 0
	for _, u := range users {
		a := newAccount(u, names)
		if a.hashed {
			c, _ := bcrypt.Cost([]byte(u.Password)) // Validate checked it
			cost = max(cost, c)
		}
		p.users[u.Name] = a
	}
	p.dummy = sync.OnceValue(func() *account {
		secret := rand.Text()
		if cost == 0 {
			return &account{plain: sha256.Sum256([]byte(secret))}
		}
		h, err := bcrypt.GenerateFromPassword([]byte(secret), cost)
		if err != nil { // cannot happen for a cost that a valid hash carries
			return &account{plain: sha256.Sum256([]byte(secret))}
		}
		return &account{User: User{Password: string(h)}, hashed: true}
	})
	return p
}

// lookup finds a configured user, else one from the source.
func (p *passwords) lookup(ctx context.Context, name string) (*account, bool, error) {
	if a, ok := p.users[name]; ok {
		return a, true, nil
	}
	if p.source == nil {
		return nil, false, nil
	}
	u, ok, err := p.source.User(ctx, name)
	if err != nil || !ok {
		return nil, false, err
	}
	return newAccount(u, p.names), true, nil
}

// newAccount prepares u for password checks. A plain password is taken only
// where the configuration says so (PlainPassword); a Password that is not a
// valid bcrypt hash (Validate refuses those; a UserSource could still hand
// one over) matches nothing rather than becoming a password in clear.
func newAccount(u User, names ref.Names) *account {
	a := &account{User: u, policy: newPolicy(u, names)}
	switch {
	case u.PlainPassword != "":
		a.plain = sha256.Sum256([]byte(u.PlainPassword))
	case checkBcrypt(u.Password) == nil:
		a.hashed = true
		a.cacheKey = u.Name + "\x00" + u.Password
	default:
		a.never = true
	}
	return a
}

// check returns the account of name when password is right; an error when
// the user could not be looked up.
func (p *passwords) check(ctx context.Context, name, password string) (*account, outcome, error) {
	a, ok, err := p.lookup(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		p.dummy().matches(password, nil)
		if p.source != nil && p.source.Owns(name) {
			return nil, badPassword, nil
		}
		return nil, unknownUser, nil
	}
	if !a.matches(password, p) {
		return nil, badPassword, nil
	}
	return a, authOK, nil
}

// matches compares password with a's; p, when not nil, holds the cache of
// verified bcrypt passwords.
func (a *account) matches(password string, p *passwords) bool {
	if a.never {
		return false
	}
	if !a.hashed {
		sum := sha256.Sum256([]byte(password))
		return subtle.ConstantTimeCompare(sum[:], a.plain[:]) == 1
	}
	var mac [sha256.Size]byte
	if p != nil {
		mac = p.mac(password)
		p.mu.Lock()
		known, ok := p.verified[a.verifiedKey()]
		p.mu.Unlock()
		if ok && hmac.Equal(known[:], mac[:]) {
			return true
		}
	}
	if bcrypt.CompareHashAndPassword([]byte(a.Password), []byte(password)) != nil {
		return false
	}
	if p != nil {
		p.mu.Lock()
		p.verified[a.verifiedKey()] = mac
		p.mu.Unlock()
	}
	return true
}

// verifiedKey is a's entry in passwords.verified: a new hash for the same
// user (a buildset's credentials rotated) has an entry of its own.
func (a *account) verifiedKey() string { return a.cacheKey }

// mac is the keyed MAC of password that verified holds. The HMAC states
// are pooled: keying one costs more than hashing a password.
func (p *passwords) mac(password string) (sum [sha256.Size]byte) {
	m, _ := p.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, p.macKey)
	}
	m.Reset()
	m.Write([]byte(password))
	m.Sum(sum[:0])
	p.macs.Put(m)
	return sum
}

// isBcrypt reports whether s is meant as a bcrypt hash. Only the prefix is
// looked at, so that a truncated hash fails Validate instead of silently
// becoming a plain password.
func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// DefaultHashCost is the bcrypt cost HashPassword uses when given 0: the
// cost htpasswd -B and zuul-registry use, ~50 ms a check (checks are
// cached, see passwords.verified).
const DefaultHashCost = bcrypt.DefaultCost

// HashPassword makes the bcrypt hash a configuration's password key takes.
// bcrypt reads at most 72 bytes: a longer password is refused rather than
// silently cut.
func HashPassword(password string, cost int) (string, error) {
	if password == "" {
		return "", errors.New("the password is empty")
	}
	if cost == 0 {
		cost = DefaultHashCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", fmt.Errorf("bcrypt cost %d is outside %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return "", errors.New("the password is longer than 72 bytes, all bcrypt can use")
	}
	if err != nil {
		return "", err
	}
	return string(h), checkBcrypt(string(h))
}

// CheckPasswordHash reports whether password matches hash, a bcrypt hash
// as the configuration takes it: nil when it does.
func CheckPasswordHash(hash, password string) error {
	if err := checkBcrypt(hash); err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return errors.New("the password does not match the hash")
	}
	return nil
}
