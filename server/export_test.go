package server

import "net/http"

// FullPath is the handler behind the hot path: what answers every request the hot path does
// not (echo, its middleware and the generated wrapper).
func (s *Server) FullPath() http.Handler {
	if s.hot == nil {
		return s.handler
	}
	return s.hot.next
}

// HotAnswers are the client lookups, verifications and CORS checks the hot path answered;
// -1 each when it is off.
func (s *Server) HotAnswers() (clients, secrets, origins int64) {
	if s.hot == nil {
		return -1, -1, -1
	}
	return s.hot.clients.Load(), s.hot.secrets.Load(), s.hot.origins.Load()
}
