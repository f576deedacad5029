package federation_test

import (
	"testing"

	"github.com/cix-exchange/cix/internal/federation"
)

func TestScopesReachExactlyTheirAudience(t *testing.T) {
	f := startFed(t, nil)
	nl := f.leaf("NL")
	all := nl.publish(t, federation.AllMembers(), "a1", []byte("all-members alert"))
	grp := nl.publish(t, federation.ToGroup("benelux"), "g1", []byte("benelux alert"))
	bil := nl.publish(t, federation.ToMember("DE"), "b1", []byte("bilateral alert"))
	f.waitInbound("NL", "", []string{all, grp, bil})
	f.waitInbound("BE", "", []string{all, grp})
	f.waitInbound("DE", "", []string{all, bil})
}
