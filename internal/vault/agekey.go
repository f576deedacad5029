package vault

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/api"
)

// AgeIdentityField is the field of the KV secret NodeAgePath(node) holding the
// administration's age identity (AGE-SECRET-KEY-1...), with which the node reads alerts
// sealed to its administration.
const AgeIdentityField = "identity"

// NodeAgePath is the KV path (under KVMount) of a node's age identity.
func NodeAgePath(node string) string { return "nodes/" + node + "/age" }

// NodeAgeKV names a node's age identity as the vault CLI does, for messages.
func NodeAgeKV(node string) string { return KVMount + "/" + NodeAgePath(node) }

// ReadAgeIdentity reads the node's age identity from KVMount (latest version). It is a
// secret: keep it in memory, never log it.
func ReadAgeIdentity(ctx context.Context, client *api.Client, node string) (string, error) {
	s, err := client.KVv2(KVMount).Get(ctx, NodeAgePath(node))
	if err != nil {
		return "", fmt.Errorf("read age identity of %s from Vault KV %s: %w", node, NodeAgeKV(node), err)
	}
	id, _ := s.Data[AgeIdentityField].(string)
	if id == "" {
		return "", fmt.Errorf("read age identity of %s from Vault KV %s: field %q empty or missing", node, NodeAgeKV(node), AgeIdentityField)
	}
	return id, nil
}

// WriteAgeIdentity stores node's age identity (an operator task; nodes may only read)
// and returns the new version.
func WriteAgeIdentity(ctx context.Context, client *api.Client, node, identity string) (int, error) {
	s, err := client.KVv2(KVMount).Put(ctx, NodeAgePath(node), map[string]any{AgeIdentityField: identity})
	if err != nil {
		return 0, fmt.Errorf("write age identity of %s to Vault KV %s: %w", node, NodeAgeKV(node), err)
	}
	if s.VersionMetadata == nil {
		return 0, nil
	}
	return s.VersionMetadata.Version, nil
}
