package swift

import (
	"testing"

	"github.com/shadowreg/shadowreg/storage/driver"
	"github.com/shadowreg/shadowreg/storage/driver/drivertest"
)

// TestDriver runs the conformance suite that every driver passes.
func TestDriver(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) driver.Driver { return newTestDriver(t) })
}
