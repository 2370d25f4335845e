package loadtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// WalkConfig describes a walk of a merchant's whole customer list.
type WalkConfig struct {
	Addr       string // host:port of the server
	Key        string // API key (Basic username)
	MerchantID string // sent as x-merchantid when not empty
	Count      int    // page size, 1–100
	Ascending  bool   // oldest first; newest first otherwise
	// Progress, if set, is called after each page with the customers read
	// so far and the list's total.
	Progress func(done, total int)
}

// WalkResult is what a walk measured.
type WalkResult struct {
	Count      int     `json:"count"`
	Pages      int     `json:"pages"`
	Customers  int     `json:"customers"` // customers read, over every page
	Total      int     `json:"total"`     // the total of the first page
	Duplicates int     `json:"duplicates"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"customers_per_second"`
	MaxPageMs  float64 `json:"max_page_ms"`
}

// Walk reads every page of the merchant's customers with starting_after,
// one keep-alive connection and one request at a time, until a page says
// none follows, and counts the customers it saw more than once.
func Walk(ctx context.Context, cfg WalkConfig) (WalkResult, error) {
	if cfg.Count < 1 || cfg.Count > 100 {
		return WalkResult{}, fmt.Errorf("count %d: want 1 to 100", cfg.Count)
	}
	w := &worker{cfg: &Config{Addr: cfg.Addr, MerchantID: cfg.MerchantID}, conn: conn{addr: cfg.Addr},
		auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Key+":"))}
	defer w.conn.close()
	res := WalkResult{Count: cfg.Count}
	seen := map[string]struct{}{}
	var body []byte
	var page struct {
		Total   int  `json:"total"`
		HasMore bool `json:"has_more"`
		List    []struct {
			ID string `json:"id"`
		} `json:"list"`
	}
	base := "/customers?count=" + strconv.Itoa(cfg.Count)
	if cfg.Ascending {
		base += "&order=asc"
	}
	after := ""
	start := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		path := base
		if after != "" {
			path += "&starting_after=" + after
		}
		req := append(w.head(nil, "GET", path), "\r\n"...)
		t0 := time.Now()
		status, err := w.conn.roundTripBody(req, &body)
		if err != nil {
			return res, fmt.Errorf("page %d: %w", res.Pages+1, err)
		}
		res.MaxPageMs = max(res.MaxPageMs, ms(time.Since(t0)))
		if status != 200 {
			return res, fmt.Errorf("page %d: status %d: %.200s", res.Pages+1, status, body)
		}
		page.List = page.List[:0]
		if err := json.Unmarshal(body, &page); err != nil {
			return res, fmt.Errorf("page %d: %w", res.Pages+1, err)
		}
		if res.Pages == 0 {
			res.Total = page.Total
		}
		res.Pages++
		for _, c := range page.List {
			if _, dup := seen[c.ID]; dup {
				res.Duplicates++
			}
			seen[c.ID] = struct{}{}
		}
		res.Customers += len(page.List)
		if cfg.Progress != nil {
			cfg.Progress(res.Customers, res.Total)
		}
		if !page.HasMore || len(page.List) == 0 {
			break
		}
		after = page.List[len(page.List)-1].ID
	}
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.PerSecond = float64(res.Customers) / res.Seconds
	}
	return res, nil
}
