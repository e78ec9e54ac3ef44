package auth

import (
	"strings"
	"testing"

	"github.com/shadowreg/shadowreg/internal/ref"
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
		{Name: "plain", PlainPassword: "s3cret", Access: AccessRead},
	}
	for _, u := range users {
		cfg := Config{Users: []User{u}, Secret: testSecret}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", u.Name, err)
		}
	}
	p := newPasswords(users, ref.Names{})
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
		a, got, _ := p.check(t.Context(), tt.user, tt.password)
		if got != tt.want || (got == authOK) != (a != nil) {
			t.Errorf("check(%q, %q) = %v, %v; want %v", tt.user, tt.password, a, got, tt.want)
		}
	}
	// A cached password does not let another one in.
	if _, got, _ := p.check(t.Context(), "a", "wrong"); got != badPassword {
		t.Error("wrong password accepted after a cached success")
	}
}

func TestDummyHash(t *testing.T) {
	// With a bcrypt user, an unknown user costs a bcrypt comparison at the
	// same cost, so that user names cannot be told apart by timing.
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost+1)
	p := newPasswords([]User{{Name: "a", Password: string(hash), Access: AccessRead}}, ref.Names{})
	d := p.dummy()
	if !d.hashed {
		t.Fatal("dummy is not a bcrypt hash")
	}
	if c, _ := bcrypt.Cost([]byte(d.Password)); c != bcrypt.MinCost+1 {
		t.Errorf("dummy cost %d", c)
	}
	// Only plain passwords: the dummy is plain too.
	if newPasswords([]User{{Name: "a", PlainPassword: "pw"}}, ref.Names{}).dummy().hashed {
		t.Error("dummy hashed for plain users")
	}
}

func TestNoPasswordInClearUnlessSaid(t *testing.T) {
	// A Password that is not a bcrypt hash matches nothing, not even
	// itself: only PlainPassword is compared in clear. (Validate refuses
	// such users; a UserSource could still hand one over.)
	p := newPasswords([]User{{Name: "a", Password: "*0", Access: AccessRead}}, ref.Names{})
	for _, pw := range []string{"*0", "", "x"} {
		if _, got, _ := p.check(t.Context(), "a", pw); got != badPassword {
			t.Errorf("check(a, %q) = %v, want badPassword", pw, got)
		}
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("s3cret", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBcrypt(h); err != nil {
		t.Errorf("HashPassword made %q: %v", h, err)
	}
	if err := CheckPasswordHash(h, "s3cret"); err != nil {
		t.Errorf("the password does not match its own hash: %v", err)
	}
	if err := CheckPasswordHash(h, "s3cret\n"); err == nil {
		t.Error("a different password matches")
	}
	if err := CheckPasswordHash("*0", "*0"); err == nil {
		t.Error(`"*0" accepted as a hash`)
	}
	cfg := Config{Secret: testSecret, Users: []User{{Name: "u", Password: h, Access: AccessRead}}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("a hash made by HashPassword does not validate: %v", err)
	}
	for _, tc := range []struct {
		pw   string
		cost int
		want string
	}{
		{"", 0, "the password is empty"},
		{strings.Repeat("x", 73), bcrypt.MinCost, "the password is longer than 72 bytes, all bcrypt can use"},
		{"x", 3, "bcrypt cost 3 is outside 4..31"},
		{"x", 32, "bcrypt cost 32 is outside 4..31"},
	} {
		if _, err := HashPassword(tc.pw, tc.cost); err == nil || err.Error() != tc.want {
			t.Errorf("HashPassword(%d bytes, %d) = %v, want %q", len(tc.pw), tc.cost, err, tc.want)
		}
	}
}
