// Package loadgen generates bounded HTTP load against a canary from inside the process, for
// CLI and CI runs where no flagger-loadtester pod runs the podinfo demo's `hey -z 2m -q 10 -c 2`.
//
// A Generator is a canary.Gate for canary.Config.Gates (Hooks gives the hooks). Each call
// starts a run in the background unless one is under way, and returns at once, so the tick is
// not held up: like the loadtester, which starts the command and answers 202, and skips a
// command that is still running. A run sends requests at Rate per second from Concurrency
// workers, and stops after Duration or MaxRequests requests, whichever comes first; each
// request is bounded by RequestTimeout. Runs use the real clock whatever clock the Rollout
// uses: the load is real.
//
// With MaxErrorRatio set, a call also judges the requests completed since the previous call:
// when at least MinRequests completed and more than MaxErrorRatio of them failed (a transport
// error or a 5xx answer, Linkerd's notion of a failure), it answers false with an error that
// says how many failed and why (the last failure's description, cut to 512 bytes: it quotes
// the answer, such as a Location header that does not parse), a failed check for the Rollout.
//
// # Redirects
//
// The URL, the Header (an Authorization, a cookie, an API key) and the user and password in
// the URL belong to the URL's host, and whatever answers there may be hostile. A request
// follows a redirect only to the URL's own scheme, host and port, with every header, and
// MaxRedirects (10) times at most. A redirect to another scheme, host or port, or past the
// tenth, is not followed: nothing is sent there, and the redirect's 3xx is the request's
// answer (not a failure: the canary answered), counted in Stats.Unfollowed. This holds for a
// Config.Client too, of which the Generator uses a copy with its own CheckRedirect. With
// NoRedirects (hey's -disable-redirects) none is followed.
//
// A Host entry of the Header is the requests' Host (hey's -host): Go's client would otherwise
// drop it. It must be one host name or address with an optional port; the connections still go
// to the URL's host, and redirects are judged by the URL's origin. Concurrency is at most
// MaxConcurrency (1,000) workers.
package loadgen
