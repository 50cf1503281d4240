package closeapi

// CreatedLead is the part of Close's 200 response to POST /api/v1/lead/ that
// closesink reads (and the emulator writes, along with the request's fields).
type CreatedLead struct {
	ID             string           `json:"id"`
	Name           string           `json:"name"`
	StatusID       string           `json:"status_id,omitempty"`
	StatusLabel    string           `json:"status_label,omitempty"`
	OrganizationID string           `json:"organization_id,omitempty"`
	DateCreated    string           `json:"date_created,omitempty"`
	HTMLURL        string           `json:"html_url,omitempty"`
	ContactIDs     []string         `json:"contact_ids,omitempty"`
	Contacts       []CreatedContact `json:"contacts,omitempty"`
}

// CreatedContact is a contact as Close returns it.
type CreatedContact struct {
	ID     string  `json:"id"`
	LeadID string  `json:"lead_id,omitempty"`
	Name   string  `json:"name,omitempty"`
	Title  string  `json:"title,omitempty"`
	Emails []Email `json:"emails,omitempty"`
	Phones []Phone `json:"phones,omitempty"`
}

// ErrorBody covers both error shapes Close sends:
// {"error": "message"} and {"errors": [...], "field-errors": {...}}.
// Legacy 429 bodies may carry rate_reset at the top level or inside "error";
// Error is therefore kept raw (it is a string or an object).
type ErrorBody struct {
	Error       any               `json:"error,omitempty"`
	Errors      []string          `json:"errors,omitempty"`
	FieldErrors map[string]string `json:"field-errors,omitempty"`
	RateReset   any               `json:"rate_reset,omitempty"`
}
