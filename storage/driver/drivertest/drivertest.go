// Package drivertest is the conformance suite of driver.Driver: every storage
// driver runs it, so that the storage package can rely on the contract written
// in package driver whatever the backend.
//
// It asserts only what the contract promises. In particular it never reads
// content that was checkpointed but not committed (an S3 multipart upload in
// progress is not readable), and it keeps its data moderate (well under
// 150 mib in all) because it also runs against an object store over HTTP.
package drivertest

import (
	"testing"

	"github.com/shadowreg/shadowreg/storage/driver"
)

// Run runs the suite. newDriver must return a fresh, empty driver on each call
// and release it with t.Cleanup; the suite calls it once per subtest.
func Run(t *testing.T, newDriver func(t *testing.T) driver.Driver) {
	s := suite{newDriver: newDriver}
	t.Run("NotFound", s.testNotFound)
	t.Run("PutContent", s.testPutContent)
	t.Run("Reader", s.testReader)
	t.Run("Writer", s.testWriter)
	t.Run("Stat", s.testStat)
	t.Run("List", s.testList)
	t.Run("Walk", s.testWalk)
	t.Run("Move", s.testMove)
	t.Run("Delete", s.testDelete)
	t.Run("Concurrent", s.testConcurrent)
	t.Run("CanceledContext", s.testCanceledContext)
	// Optional capabilities run only for drivers that have them: a driver
	// without one is not a check skipped, it is one that does not apply.
	_, probe := s.setup(t)
	if _, ok := probe.(driver.FileStater); ok {
		t.Run("FileStater", s.testFileStater)
	}
	if _, ok := probe.(driver.AtomicCommitter); ok {
		t.Run("AtomicCommit", s.testAtomicCommit)
	}
}

type suite struct {
	newDriver func(t *testing.T) driver.Driver
}
