package token

import (
	"encoding/json"
	"log/slog"
	"net/http"
)

// ParamsPath is where a token server answers with a fresh token set.
const ParamsPath = "/callparameters"

// HandlerConfig is a token server: what it mints, and for which pages.
type HandlerConfig struct {
	// Mint makes a fresh token set for every request.
	Mint func() (Params, error)
	// AllowOrigin, if set, says whether a page from the request's Origin
	// may read the answer (CORS); nil allows no other origin.
	AllowOrigin func(*http.Request) bool
	Logger      *slog.Logger
}

// Handler answers GET ParamsPath with a freshly minted token set in the
// shape of the sample token server's answer (Params): the JSON object
// {"realm","accountToken","fromToken","toToken","caller","callee"}.
func Handler(cfg HandlerConfig) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(ParamsPath, func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && cfg.AllowOrigin != nil && cfg.AllowOrigin(r) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodOptions:
			w.Header().Set("Access-Control-Allow-Methods", "GET")
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		p, err := cfg.Mint()
		if err != nil {
			log.Error("minting tokens failed", "err", err)
			http.Error(w, "cannot mint tokens", http.StatusInternalServerError)
			return
		}
		log.Debug("token set served", "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store") // every set is fresh
		_ = json.NewEncoder(w).Encode(p)
	})
	return mux
}
