package api

import (
	"context"
	"log/slog"

	searchv1 "github.com/cix-exchange/cix/internal/gen/cix/search/v1"
)

// Searcher is what SearchService needs of the node's index.
type Searcher interface {
	Search(ctx context.Context, req *searchv1.SearchRequest) (*searchv1.SearchResponse, error)
	GetHistory(ctx context.Context, id string) (*searchv1.SearchResult, error)
	Statistics(ctx context.Context, req *searchv1.StatisticsRequest) (*searchv1.StatisticsResponse, error)
}

// SearchService implements cix.search.v1.SearchService.
type SearchService struct {
	searchv1.UnimplementedSearchServiceServer
	index Searcher
	log   *slog.Logger
}

// Search implements SearchService.Search.
func (s *SearchService) Search(ctx context.Context, req *searchv1.SearchRequest) (*searchv1.SearchResponse, error) {
	res, err := s.index.Search(ctx, req)
	return res, toStatus(s.log, err)
}

// GetHistory implements SearchService.GetHistory.
func (s *SearchService) GetHistory(ctx context.Context, req *searchv1.GetHistoryRequest) (*searchv1.GetHistoryResponse, error) {
	r, err := s.index.GetHistory(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(s.log, err)
	}
	return &searchv1.GetHistoryResponse{Result: r}, nil
}

// Statistics implements SearchService.Statistics.
func (s *SearchService) Statistics(ctx context.Context, req *searchv1.StatisticsRequest) (*searchv1.StatisticsResponse, error) {
	res, err := s.index.Statistics(ctx, req)
	return res, toStatus(s.log, err)
}
