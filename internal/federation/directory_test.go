package federation_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cix-exchange/cix/internal/envelope"
	"github.com/cix-exchange/cix/internal/federation"
	"github.com/cix-exchange/cix/internal/trust"
)

func secretariat(t *testing.T) (federation.SecretariatSigner, string) {
	t.Helper()
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "secretariat.key"), filepath.Join(dir, "secretariat.pub")
	if _, err := federation.GenerateSecretariatKey(priv, pub); err != nil {
		t.Fatal(err)
	}
	s, err := federation.LoadSecretariatSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

func anchorPEM(t *testing.T, admin string) string {
	t.Helper()
	ks, err := trust.OpenDevKeystore(filepath.Join(t.TempDir(), admin), admin, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ks.AnchorPath())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDirectorySignAndVerify(t *testing.T) {
	s, pubFile := secretariat(t)
	pub, err := federation.LoadSecretariatKey(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	d := federation.Directory{
		Federation: "cix-test", Version: 2, IssuedAt: time.Now().UTC().Truncate(time.Second),
		Manifest: validManifest, Anchors: map[string]string{"NL": anchorPEM(t, "NL"), "BE": anchorPEM(t, "BE")},
	}
	raw, err := federation.SignDirectory(d, s)
	if err != nil {
		t.Fatal(err)
	}
	o, err := federation.VerifyDirectory(raw, pub)
	if err != nil {
		t.Fatal(err)
	}
	if o.Version != 2 || o.Parsed.Member("DE") == nil || len(o.Certs["NL"]) != 1 || len(o.Certs["DE"]) != 0 {
		t.Fatalf("opened %+v", o.Directory)
	}

	t.Run("another key", func(t *testing.T) {
		other, _ := secretariat(t)
		forged, err := federation.SignDirectory(d, other)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := federation.VerifyDirectory(forged, pub); envelope.ReasonOf(err) != envelope.ReasonUnknownKey {
			t.Fatalf("signed by another key: %v", err)
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		if _, err := federation.VerifyDirectory([]byte("manifest"), pub); envelope.ReasonOf(err) != envelope.ReasonMalformedEnvelope {
			t.Fatalf("unsigned: %v", err)
		}
	})
	t.Run("invalid content is refused when signing", func(t *testing.T) {
		for name, mut := range map[string]func(*federation.Directory){
			"version 0":          func(d *federation.Directory) { d.Version = 0 },
			"anchor of another":  func(d *federation.Directory) { d.Anchors = map[string]string{"DE": d.Anchors["NL"]} },
			"anchor of stranger": func(d *federation.Directory) { d.Anchors = map[string]string{"FR": anchorPEM(t, "FR")} },
			"federation":         func(d *federation.Directory) { d.Federation = "other" },
			"manifest":           func(d *federation.Directory) { d.Manifest = "members: []" },
		} {
			bad := d
			mut(&bad)
			if _, err := federation.SignDirectory(bad, s); err == nil {
				t.Errorf("%s: signed", name)
			}
		}
	})
	if got := federation.DirectorySubject("NL", 2); got != "cix.out.NL.all.directory.2" {
		t.Fatal(got)
	}
	if !strings.HasPrefix(federation.RevocationSubject("BE", "x"), "cix.out.BE.all.revocation.") {
		t.Fatal(federation.RevocationSubject("BE", "x"))
	}
}
