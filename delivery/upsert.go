package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/closesink/closesink/pkg/closeapi"
)

// The calls of the upsert mode. Each goes through the same rate limit, 429
// pause, retries and classification as a create, so a person found and
// updated spends the group's budget like any other request, and a search
// Close rejects permanently (400, 401, 403) is Permanent like a create.

// searchLimit bounds the contacts a search returns: "phrase" matching may
// find a few that share words with the address, and the exact one must be
// among them.
const searchLimit = 10

// Search finds the contacts whose email is exactly email (compared
// case-insensitively): Close matches words, so the search's own hits are
// filtered. A 2xx body that cannot be read is Permanent.
func (s *Sender) Search(ctx context.Context, email string) ([]closeapi.FoundContact, Outcome) {
	body, err := json.Marshal(closeapi.ContactByEmail(email, searchLimit))
	if err != nil {
		return nil, Outcome{Status: Permanent, Message: "encoding the search: " + err.Error()}
	}
	var res closeapi.SearchResponse
	out := s.callJSON(ctx, http.MethodPost, closeapi.SearchPath, body, &res)
	if out.Status != Delivered {
		return nil, out
	}
	var exact []closeapi.FoundContact
	for _, c := range res.Data {
		for _, e := range c.Emails {
			if strings.EqualFold(strings.TrimSpace(e.Email), email) {
				exact = append(exact, c)
				break
			}
		}
	}
	return exact, out
}

// GetLead reads a lead's current fields.
func (s *Sender) GetLead(ctx context.Context, id string) (closeapi.ExistingLead, Outcome) {
	var l closeapi.ExistingLead
	out := s.callJSON(ctx, http.MethodGet, closeapi.LeadPath+id+"/", nil, &l)
	return l, out
}

// UpdateContact sends a contact PATCH (PUT /api/v1/contact/{id}/). A 404
// (merged or deleted meanwhile) is Permanent with HTTPStatus 404.
func (s *Sender) UpdateContact(ctx context.Context, id string, u closeapi.ContactUpdate) Outcome {
	return s.put(ctx, closeapi.ContactPath+id+"/", u)
}

// UpdateLead sends a lead PATCH (PUT /api/v1/lead/{id}/).
func (s *Sender) UpdateLead(ctx context.Context, id string, u closeapi.LeadUpdate) Outcome {
	return s.put(ctx, closeapi.LeadPath+id+"/", u)
}

func (s *Sender) put(ctx context.Context, path string, v any) Outcome {
	body, err := json.Marshal(v)
	if err != nil {
		return Outcome{Status: Permanent, Message: "encoding the update: " + err.Error()}
	}
	return s.call(ctx, http.MethodPut, s.c.baseURL+path, body, nil, nil)
}

// callJSON makes a call and decodes its 2xx body into v (with the same
// lenient rules as a created lead: see createdOptions); an unreadable 2xx
// body is Permanent, since sending the same request again would not help.
func (s *Sender) callJSON(ctx context.Context, method, path string, body []byte, v any) Outcome {
	var decodeErr error
	out := s.call(ctx, method, s.c.baseURL+path, body, nil, func(b []byte, _ *Outcome) {
		decodeErr = jsonv2.Unmarshal(b, v, createdOptions)
		var typeErr *jsonv1.UnmarshalTypeError
		if errors.As(decodeErr, &typeErr) {
			decodeErr = nil // a field of the wrong type is skipped, the rest kept
		}
	})
	if out.Status == Delivered && decodeErr != nil {
		out.Status = Permanent
		out.Message = s.c.scrub("unreadable answer from Close: " + decodeErr.Error())
	}
	return out
}
