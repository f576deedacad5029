package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cix-exchange/cix/internal/envelope"
	envelopev1 "github.com/cix-exchange/cix/internal/gen/cix/envelope/v1"
	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"github.com/cix-exchange/cix/internal/trust"
)

var cmdGet = &command{
	name: "get", args: "[--json] [--envelope-dir DIR] ID",
	summary: "show one verified alert; export its signed envelope for openssl",
	help: `
Show the alert with this id as the node verified it: who signed it, when it was
received, its feed cursor (to resume "cix feed" from it) and the alert itself. With
--json, print the whole VerifiedAlert as JSON.

With --envelope-dir DIR, also write the signed envelope as files that standard tools
can verify without cix: payload.bin (the signed payload), pae.bin (the DSSE
pre-authentication encoding that was signed), sig-N.bin (raw Ed25519 signature N),
cert-N.pem (the leaf certificate of signature N), chain-N.pem (the intermediate
certificates sent with it, when there are any: a Vault-issued chain is leaf and node
CA) and envelope.pb (the whole envelope). The openssl commands to check them are
printed; with intermediates, openssl verify is given chain-N.pem with -untrusted.`,
	flags: func(fs *flag.FlagSet) runFunc {
		jsonOut := fs.Bool("json", false, "print the VerifiedAlert as JSON")
		dir := fs.String("envelope-dir", "", "write the envelope's parts to `DIR` for offline verification")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("get", "get wants one alert ID")
			}
			return get(ctx, e, args[0], *jsonOut, *dir)
		}
	},
}

func get(ctx context.Context, e *env, id string, jsonOut bool, dir string) error {
	client, err := e.nodeClient()
	if err != nil {
		return err
	}
	cctx, cancel := e.unary(ctx)
	defer cancel()
	res, err := client.Get(cctx, &nodev1.GetRequest{Id: id})
	if err != nil {
		return callErr("get", err)
	}
	va := res.GetAlert()
	if jsonOut {
		b, err := prettyJSON(va)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else if err := printVerified(e.stdout, va); err != nil {
		return err
	}
	if dir == "" {
		return nil
	}
	files, err := writeEnvelope(dir, va.GetEnvelope())
	if err != nil {
		return err
	}
	w := e.stdout
	if jsonOut {
		w = e.stderr // keep stdout valid JSON
	}
	printOpenSSL(w, dir, files, va.GetSigner().GetAdministration(), slices.Contains(files, "chain-0.pem"))
	return nil
}

// printVerified prints a verified alert for people: header lines, then the alert.
func printVerified(w io.Writer, va *nodev1.VerifiedAlert) error {
	a := va.GetAlert()
	h := inForce(va)
	handling := handlingLine(h.GetTlp(), h.GetCode(), h.GetRestrictions())
	if h.GetPersonalData() {
		handling += ", personal data"
	}
	if r := va.GetReclassified(); r != nil {
		o := a.GetHandling()
		handling += fmt.Sprintf(" (reclassified %s by notice %s; issued as %s)", timeLine(r.GetIssuedAt().AsTime()), r.GetId(),
			handlingLine(o.GetTlp(), o.GetCode(), ""))
	}
	origin := a.GetOrigin().GetAdministration()
	if o := a.GetOrigin().GetOffice(); o != "" {
		origin += " office " + o
	}
	if n := a.GetOrigin().GetNode(); n != "" {
		origin += " node " + n
	}
	kind := kindName(a) + " version " + strconv.Itoa(int(a.GetVersion()))
	if s := a.GetSupersedes(); s != "" {
		kind += ", supersedes " + s
	}
	s := va.GetSigner()
	rows := [][2]string{
		{"id", a.GetId()},
		{"kind", kind},
		{"summary", summary(a)},
		{"origin", origin},
		{"issued", a.GetIssuedAt().AsTime().UTC().Format("2006-01-02 15:04:05 MST")},
		{"handling", handling},
		{"signer", fmt.Sprintf("%s/%s keyid %s (certificate valid until %s)", s.GetAdministration(), s.GetNode(),
			s.GetKeyid(), timeLine(s.GetCertificateNotAfter().AsTime()))},
		{"received", va.GetReceivedAt().AsTime().UTC().Format("2006-01-02 15:04:05 MST")},
		{"cursor", va.GetCursor()},
	}
	if r := va.GetRecalled(); r != nil {
		rows = append(rows, [2]string{"RECALLED", fmt.Sprintf("%s by notice %s, %s", timeLine(r.GetIssuedAt().AsTime()), r.GetId(), noticeAction(r))})
	}
	if s := va.GetSupersededBy(); s != "" {
		rows = append(rows, [2]string{"amended", "superseded by " + s})
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-9s %s\n", r[0]+":", r[1])
	}
	b, err := prettyJSON(a)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n", b)
	return nil
}

// writeEnvelope writes the parts of env under dir and returns the file names written.
func writeEnvelope(dir string, env *envelopev1.Envelope) ([]string, error) {
	if env == nil || len(env.GetSignatures()) == 0 {
		return nil, errors.New("the node returned no signed envelope")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	raw, err := envelope.Marshal(env)
	if err != nil {
		return nil, err
	}
	type part struct {
		name string
		data []byte
	}
	files := []part{
		{"payload.bin", env.GetPayload()},
		{"pae.bin", envelope.PAE(env.GetPayloadType(), env.GetPayload())},
		{"envelope.pb", raw},
	}
	for i, s := range env.GetSignatures() {
		files = append(files, part{fmt.Sprintf("sig-%d.bin", i), s.GetSig()})
		if certs := s.GetCertificates(); len(certs) > 0 {
			files = append(files, part{fmt.Sprintf("cert-%d.pem", i), trust.EncodePEM(certs[0])})
			if len(certs) > 1 {
				files = append(files, part{fmt.Sprintf("chain-%d.pem", i), trust.EncodePEM(certs[1:]...)})
			}
		}
	}
	var names []string
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return nil, err
		}
		names = append(names, f.name)
	}
	return names, nil
}

// openSSLCommands are the commands that verify signature 0 of an exported envelope in
// its directory; ANCHOR.pem stands for the signer's administration trust anchor. With
// chain, the intermediates in chain-0.pem link the leaf to the anchor: they are given as
// untrusted, so that only the anchor is trusted.
func openSSLCommands(chain bool) []string {
	untrusted := ""
	if chain {
		untrusted = "-untrusted chain-0.pem "
	}
	return []string{
		"openssl x509 -in cert-0.pem -pubkey -noout > pub.pem",
		"openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in pae.bin -sigfile sig-0.bin",
		"openssl verify -CAfile ANCHOR.pem " + untrusted + "cert-0.pem",
	}
}

func printOpenSSL(w io.Writer, dir string, files []string, admin string, chain bool) {
	fmt.Fprintf(w, "\nwrote %s to %s\n", strings.Join(files, ", "), dir)
	fmt.Fprintf(w, "verify signature 0 with openssl (ANCHOR.pem: the trust anchor of %s):\n  cd %s\n", admin, dir)
	for _, c := range openSSLCommands(chain) {
		fmt.Fprintf(w, "  %s\n", c)
	}
}
