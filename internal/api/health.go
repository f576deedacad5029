package api

import (
	"context"

	nodev1 "github.com/cix-exchange/cix/internal/gen/cix/node/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// HealthReporter checks the node's dependencies for AdminService.GetHealth.
type HealthReporter interface {
	Health(ctx context.Context) *nodev1.GetHealthResponse
}

// Metrics counts what the API delivers (internal/metrics implements it).
type Metrics interface {
	// Delivered counts an alert sent to a Subscribe client.
	Delivered()
}

// GetHealth implements AdminService.GetHealth.
func (s *AdminService) GetHealth(ctx context.Context, _ *nodev1.GetHealthRequest) (*nodev1.GetHealthResponse, error) {
	if s.health == nil {
		return nil, status.Error(codes.Unimplemented, "this node reports no health")
	}
	return s.health.Health(ctx), nil
}
