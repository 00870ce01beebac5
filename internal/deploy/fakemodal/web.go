package fakemodal

import "net/http"

// ProxyAuth serves next the way Modal's proxy serves a web function declared
// with requires_proxy_auth=True (modal.com/docs/guide/webhook-proxy-auth;
// modal-labs/modal-client py/modal/_partial_function.py web_server: "Require
// Modal-Key and Modal-Secret HTTP Headers on requests"): a request without
// both headers gets 401 "modal-http: missing credentials for proxy
// authorization" and never reaches the container. The guide shows no
// message for a wrong token; it is refused the same way here.
func ProxyAuth(tokenID, tokenSecret string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, secret := r.Header.Get("Modal-Key"), r.Header.Get("Modal-Secret")
		switch {
		case key == "" || secret == "":
			http.Error(w, "modal-http: missing credentials for proxy authorization", http.StatusUnauthorized)
		case key != tokenID || secret != tokenSecret:
			http.Error(w, "modal-http: invalid credentials for proxy authorization", http.StatusUnauthorized)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
