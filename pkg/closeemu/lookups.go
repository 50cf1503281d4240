package closeemu

import (
	"net/http"
)

// CustomField is a lead custom field of the emulated organization.
type CustomField struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"` // "text", "number", "choices", ...
}

const (
	statusLeadPath      = "/api/v1/status/lead/"
	customFieldLeadPath = "/api/v1/custom_field/lead/"
)

// lookup handles GET /api/v1/status/lead/ (the configured statuses, the
// default first, with their labels) and GET /api/v1/custom_field/lead/
// (Config.CustomFields), both paged with _skip and _limit like Close's
// lists: {"data": [...], "has_more": bool}.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	skip, limit, ok := s.listParams(w, r)
	if !ok {
		return
	}
	var all []any
	if is(r.URL.Path, statusLeadPath) {
		for _, id := range s.statusOrder {
			label := s.labels[id]
			if label == "" {
				label = id
			}
			all = append(all, map[string]string{"id": id, "label": label, "organization_id": s.orgID})
		}
	} else {
		for _, f := range s.customFields {
			all = append(all, map[string]string{"id": f.ID, "name": f.Name, "type": f.Type, "organization_id": s.orgID})
		}
	}
	start, end := pageBounds(skip, limit, len(all))
	page := all[start:end]
	if page == nil {
		page = []any{}
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"data": page, "has_more": end < len(all)})
}
