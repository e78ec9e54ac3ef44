package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

const (
	maxTagPages    = 1000     // Link pages followed before giving up
	maxTagPageSize = 16 << 20 // bytes of one page
)

// Tags lists repo's tags, following Link pagination (at most 1000 pages; a
// longer list is an error, not a silent truncation).
func (c *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	repo, err := c.repoName(repo)
	if err != nil {
		return nil, err
	}
	tags := []string{}
	first := &request{op: "tags", method: http.MethodGet, url: c.endpoint(repo, "tags", "list"), what: repo,
		scope: pullScope(repo), limit: maxTagPageSize, header: http.Header{"Accept": {"application/json"}}}
	err = c.pages(ctx, first, maxTagPages, func(page int, data []byte, err error) error {
		if err != nil {
			return err
		}
		var doc struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("invalid tag list: %v", err)
		}
		tags = append(tags, doc.Tags...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tags, nil
}

// errStop ends pages early without an error.
var errStop = errors.New("stop paging")

// pages GETs first and the Link rel="next" pages after it (at most max),
// handing each page's body, or the error of getting it, to fn. An error from
// fn ends the walk and is returned as the request's failure (errStop: no
// failure); so is a page limit hit or a Link that loops back.
func (c *Client) pages(ctx context.Context, first *request, max int, fn func(page int, data []byte, err error) error) error {
	seen := map[string]bool{}
	r := *first
	for page := 0; r.url != ""; page++ {
		if page == max {
			return c.fail(&r, fmt.Errorf("more than %d pages of %s", max, r.op))
		}
		seen[r.url] = true
		resp, data, err := c.send(ctx, &r)
		if err = fn(page, data, err); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return c.fail(&r, err)
		}
		next, err := c.nextPage(resp, r.url)
		if err != nil {
			return c.fail(&r, err)
		}
		if seen[next] {
			return c.fail(&r, fmt.Errorf("%s pages loop back to %s", r.op, next))
		}
		r.url = next
	}
	return nil
}

// nextPage returns the absolute URL of the Link rel="next" of resp, "" on
// the last page. It must stay on the upstream's origin: credentials for this
// upstream are attached to it.
func (c *Client) nextPage(resp *http.Response, current string) (string, error) {
	link := nextLink(resp.Header.Values("Link"))
	if link == "" {
		return "", nil
	}
	cur, err := url.Parse(current)
	if err != nil {
		return "", err
	}
	u, err := cur.Parse(link)
	if err != nil {
		return "", fmt.Errorf("invalid Link %q: %v", oneLine(link, 200), err)
	}
	if u.Scheme != cur.Scheme || u.Host != cur.Host {
		return "", fmt.Errorf("link to another host: %s", oneLine(u.Redacted(), 200))
	}
	return u.String(), nil
}

// nextLink finds the target of rel="next" in Link header values (RFC 8288):
// `<url>; rel="next"`, several links per value, separated by commas.
func nextLink(values []string) string {
	for _, v := range values {
		for n := 0; n < 32 && v != ""; n++ { // bounded: a header holds few links
			open := strings.IndexByte(v, '<')
			end := strings.IndexByte(v, '>')
			if open < 0 || end < open {
				break
			}
			target := v[open+1 : end]
			params := v[end+1:]
			if i := strings.IndexByte(params, '<'); i >= 0 { // the next link's start
				params = params[:i]
			}
			v = v[end+1:]
			for _, p := range strings.Split(params, ";") {
				name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				val = strings.Trim(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(val), ",")), `"`)
				for _, rel := range strings.Fields(val) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}
