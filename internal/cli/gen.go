package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/cix-exchange/cix/internal/alert"
	"github.com/cix-exchange/cix/internal/synth"
	"google.golang.org/protobuf/encoding/protojson"
)

var cmdGen = &command{
	name: "gen", args: "[--count N] [--seed S] [--origin NL] [--persons]",
	summary: "write synthetic alerts as JSON lines",
	help: `
Write N synthetic, valid alerts to stdout as JSON lines (the protobuf JSON of
cix.alert.v1.Alert, one per line). The same seed and origin always give the same
alerts, so "cix gen | cix publish -" can be repeated to show duplicate detection.
The content is invented: it describes no real case, person or company.`,
	flags: func(fs *flag.FlagSet) runFunc {
		count := fs.Int("count", 10, "number of alerts")
		seed := fs.Int64("seed", 1, "random seed")
		origin := fs.String("origin", "NL", "originating administration (ISO 3166-1 alpha-2)")
		persons := fs.Bool("persons", false, "name (invented) persons in seizures; sets handling.personal_data")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return usagef("gen", "unexpected argument %q", args[0])
			}
			if *count < 0 {
				return usagef("gen", "--count must not be negative")
			}
			o := strings.ToUpper(strings.TrimSpace(*origin))
			if !alert.ValidCountry(o) {
				return usagef("gen", "--origin %q is not an ISO 3166-1 alpha-2 code", *origin)
			}
			g := synth.New(*seed, o).WithPersons(*persons)
			w := bufio.NewWriterSize(e.stdout, 64<<10)
			for i := 0; i < *count; i++ {
				if i%1000 == 0 && ctx.Err() != nil {
					break
				}
				b, err := protojson.Marshal(g.Next())
				if err != nil {
					return fmt.Errorf("encode alert %d: %w", i+1, err)
				}
				w.Write(b)
				if err := w.WriteByte('\n'); err != nil {
					return err
				}
			}
			return w.Flush()
		}
	},
}
