package kube

import "k8s.io/client-go/util/retry"

// retryOnConflict is retry.RetryOnConflict(retry.DefaultRetry, fn) keeping fn's last error:
// client-go's returns nil for an error that wraps context.Canceled or DeadlineExceeded (a
// request timeout, a cancelled ctx), taking it for the end of its own backoff.
func retryOnConflict(fn func() error) error {
	var last error
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		last = fn()
		return last
	})
	if err == nil {
		return last
	}
	return err
}
