package bus

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestStoreFullClassified: JetStream's refusals for lack of space become ErrStoreFull;
// other store failures and other errors do not.
func TestStoreFullClassified(t *testing.T) {
	api := func(code jetstream.ErrorCode, d string) error {
		return fmt.Errorf("nats: %w", &jetstream.APIError{Code: 503, ErrorCode: code, Description: d})
	}
	for _, tc := range []struct {
		err  error
		full bool
	}{
		{api(10077, "maximum bytes exceeded"), true},
		{api(10077, "maximum messages exceeded"), true},
		{api(10077, "write /data/jetstream/msgs/1.blk: no space left on device"), true},
		{api(10023, "insufficient resources"), true},
		{api(10047, "insufficient storage resources available"), true},
		{api(10002, "resource limits exceeded for account"), true},
		{api(10077, "maximum messages per subject exceeded"), false},
		{api(10077, "file store closed"), false},
		{api(10054, "message size exceeds maximum allowed"), false},
		{errors.New("nats: timeout"), false},
	} {
		got := storeFull(tc.err)
		if (got != nil) != tc.full || (got != nil && !errors.Is(got, ErrStoreFull)) {
			t.Errorf("%v: %v, want full=%v", tc.err, got, tc.full)
		}
	}
}
