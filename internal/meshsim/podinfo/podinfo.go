package podinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Instance is the pod that answers a request.
type Instance struct {
	// Hostname is the pod's name, reported as podinfo reports its hostname.
	Hostname string
	// Version is the app version, the image tag.
	Version string
}

// maxEcho bounds the body /echo and /token read.
const maxEcho = 1 << 20

// maxDelay bounds /delay/{seconds}.
const maxDelay = 10 * time.Minute

// Handler serves podinfo's API. The zero value answers as pod "podinfo", version "unknown".
type Handler struct {
	// Instance says which pod answers r; nil means the zero Instance.
	Instance func(r *http.Request) Instance
}

var _ http.Handler = Handler{}

// ServeHTTP answers one request.
func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var inst Instance
	if h.Instance != nil {
		inst = h.Instance(r)
	}
	if inst.Hostname == "" {
		inst.Hostname = "podinfo"
	}
	if inst.Version == "" {
		inst.Version = "unknown"
	}
	path := r.URL.Path
	switch {
	case path == "/" || path == "":
		writeJSON(w, http.StatusOK, map[string]any{
			"hostname": inst.Hostname, "version": inst.Version, "revision": "",
			"color": "#34577c", "logo": "https://raw.githubusercontent.com/stefanprodan/podinfo/gh-pages/cuddle_clap.gif",
			"message": "greetings from podinfo v" + inst.Version,
			"goos":    runtime.GOOS, "goarch": runtime.GOARCH, "runtime": runtime.Version(),
			"num_goroutine": "1", "num_cpu": strconv.Itoa(runtime.NumCPU()),
		})
	case path == "/version":
		writeJSON(w, http.StatusOK, map[string]string{"version": inst.Version, "commit": ""})
	case path == "/healthz" || path == "/readyz":
		writeJSON(w, http.StatusOK, map[string]string{"status": "OK"})
	case strings.HasPrefix(path, "/status/"):
		code, err := strconv.Atoi(strings.TrimPrefix(path, "/status/"))
		if err != nil || code < 100 || code > 599 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid status code"})
			return
		}
		writeJSON(w, code, map[string]int{"status": code})
	case strings.HasPrefix(path, "/delay/"):
		delay(w, r, strings.TrimPrefix(path, "/delay/"))
	case path == "/token" && r.Method == http.MethodPost:
		token(w, r, inst)
	case path == "/headers":
		writeJSON(w, http.StatusOK, r.Header)
	case path == "/echo" && r.Method == http.MethodPost:
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxEcho))
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(body)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
	}
}

func delay(w http.ResponseWriter, r *http.Request, arg string) {
	secs, err := strconv.ParseFloat(arg, 64)
	if err != nil || secs < 0 || time.Duration(secs*float64(time.Second)) > maxDelay {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid delay"})
		return
	}
	t := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		writeJSON(w, http.StatusOK, map[string]float64{"delay": secs})
	case <-r.Context().Done():
	}
}

// token answers as podinfo's /token: a token derived from the body and the pod (podinfo signs
// a JWT; the demo manifests only check that the answer contains "token").
func token(w http.ResponseWriter, r *http.Request, inst Instance) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxEcho))
	sum := sha256.Sum256(append([]byte(inst.Hostname+"/"), body...))
	writeJSON(w, http.StatusOK, map[string]string{
		"token":      hex.EncodeToString(sum[:16]),
		"expires_at": time.Now().Add(time.Minute).UTC().Format(time.RFC3339),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
