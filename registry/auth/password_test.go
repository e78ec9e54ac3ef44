package auth

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswords(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// htpasswd -B writes $2y$, other tools $2b$; the algorithm is the same.
	users := []User{
		{Name: "a", Password: string(hash), Access: AccessRead},
		{Name: "b", Password: "$2b$" + string(hash[4:]), Access: AccessRead},
		{Name: "y", Password: "$2y$" + string(hash[4:]), Access: AccessRead},
		{Name: "plain", Password: "s3cret", Access: AccessRead},
	}
	for _, u := range users {
		cfg := Config{Users: []User{u}, Secret: testSecret}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", u.Name, err)
		}
	}
	p := newPasswords(users)
	tests := []struct {
		user, password string
		want           outcome
	}{
		{"a", "s3cret", authOK},
		{"a", "s3cret", authOK}, // again, from the cache
		{"a", "S3cret", badPassword},
		{"a", "", badPassword},
		{"b", "s3cret", authOK},
		{"b", "s3cre", badPassword},
		{"y", "s3cret", authOK},
		{"y", "s3cret" + strings.Repeat("x", 100), badPassword},
		{"plain", "s3cret", authOK},
		{"plain", "s3cret ", badPassword},
		{"plain", "s3cre", badPassword},
		{"plain", string(hash), badPassword},
		{"nobody", "s3cret", unknownUser},
		{"", "", unknownUser},
	}
	for _, tt := range tests {
		a, got := p.check(tt.user, tt.password)
		if got != tt.want || (got == authOK) != (a != nil) {
			t.Errorf("check(%q, %q) = %v, %v; want %v", tt.user, tt.password, a, got, tt.want)
		}
	}
	// A cached password does not let another one in.
	if _, got := p.check("a", "wrong"); got != badPassword {
		t.Error("wrong password accepted after a cached success")
	}
}

func TestDummyHash(t *testing.T) {
	// With a bcrypt user, an unknown user costs a bcrypt comparison at the
	// same cost, so that user names cannot be told apart by timing.
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost+1)
	p := newPasswords([]User{{Name: "a", Password: string(hash), Access: AccessRead}})
	d := p.dummy()
	if !d.hashed {
		t.Fatal("dummy is not a bcrypt hash")
	}
	if c, _ := bcrypt.Cost([]byte(d.Password)); c != bcrypt.MinCost+1 {
		t.Errorf("dummy cost %d", c)
	}
	// Only plain passwords: the dummy is plain too.
	if newPasswords([]User{{Name: "a", Password: "pw"}}).dummy().hashed {
		t.Error("dummy hashed for plain users")
	}
}
