package kubegate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/util/retry"

	"github.com/canarykit/canarykit/canary"
)

// Values of a gate key.
const (
	Open   = "open"
	Closed = "closed"
)

// Labels of the gate ConfigMap.
const (
	LabelTarget  = "canarykit.dev/target"
	fieldManager = "canarykit-kubegate"
)

// ResetHookName names the post-rollout hook that closes the gates when a release ends.
const ResetHookName = "manual-gates-reset"

// Sentinel errors; test with errors.Is.
var (
	// ErrGateType: the hook type is not a manual gate (confirm-rollout,
	// confirm-traffic-increase, confirm-promotion, rollback).
	ErrGateType = errors.New("not a manual gate type")
	// ErrInvalidConfig: New refused its Config.
	ErrInvalidConfig = errors.New("invalid kubegate config")
	// ErrNotManaged: a ConfigMap of the gates' name exists without kubegate's labels
	// (app.kubernetes.io/managed-by=canarykit and canarykit.dev/target=<target>); kubegate
	// neither reads its keys as gates nor writes it.
	ErrNotManaged = errors.New("configmap not managed by kubegate")
)

// gateTypes are the hook types a manual gate answers.
var gateTypes = []canary.HookType{canary.HookConfirmRollout, canary.HookConfirmTrafficIncrease,
	canary.HookConfirmPromotion, canary.HookRollback}

func checkType(typ canary.HookType) error {
	for _, t := range gateTypes {
		if typ == t {
			return nil
		}
	}
	return fmt.Errorf("%w: %q (want confirm-rollout, confirm-traffic-increase, confirm-promotion or rollback)", ErrGateType, typ)
}

// Rules are the RBAC rules Gates need in the target's namespace: get, create and update on
// ConfigMaps. (A reader that only calls Allow and State needs get alone.)
func Rules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "create", "update"}}}
}

// ConfigMapName returns the name of t's gate ConfigMap: "<name>-canarykit-gates".
func ConfigMapName(t canary.Target) string { return t.Name + "-canarykit-gates" }

// Config configures a target's Gates. Zero fields mean "default".
type Config struct {
	// Client reaches ConfigMaps (a clientset's CoreV1()). Required.
	Client corev1client.ConfigMapsGetter
	// Target whose gates these are. Required.
	Target canary.Target
	// ConfigMap names the ConfigMap in the target's namespace. Default ConfigMapName(Target).
	ConfigMap string
	// KeepApprovals keeps gates open across releases, like flagger-loadtester; by default
	// Hooks closes them when a release ends.
	KeepApprovals bool
	// Logger receives gate changes. Default: discard.
	Logger logr.Logger
}

// Gates are a target's manual gates, stored in a ConfigMap. As a canary.Gate, Allow answers
// the gate of the request's hook type: open (confirm-*) or rollback requested (rollback).
// Safe for concurrent use, and across processes.
type Gates struct {
	cms    corev1client.ConfigMapInterface
	target canary.Target
	name   string
	keep   bool
	log    logr.Logger
}

var _ canary.Gate = (*Gates)(nil)

// New validates cfg and returns the target's Gates. It makes no request.
func New(cfg Config) (*Gates, error) {
	var p []string
	if cfg.Client == nil {
		p = append(p, "Client: required")
	}
	if cfg.Target.Namespace == "" || cfg.Target.Name == "" {
		p = append(p, "Target: namespace and name are required")
	}
	if len(p) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(p, "; "))
	}
	g := &Gates{target: cfg.Target, name: cfg.ConfigMap, keep: cfg.KeepApprovals, log: cfg.Logger}
	g.cms = cfg.Client.ConfigMaps(cfg.Target.Namespace)
	if g.name == "" {
		g.name = ConfigMapName(cfg.Target)
	}
	if g.log.GetSink() == nil {
		g.log = logr.Discard()
	}
	g.log = g.log.WithValues("target", cfg.Target.String(), "configMap", g.name)
	return g, nil
}

// ConfigMap returns the name of the ConfigMap that holds the gates.
func (g *Gates) ConfigMap() string { return g.name }

// Approve opens a confirm gate (confirm-rollout, confirm-traffic-increase or
// confirm-promotion).
func (g *Gates) Approve(ctx context.Context, typ canary.HookType) error {
	if err := checkConfirm(typ); err != nil {
		return err
	}
	return g.write(ctx, map[string]string{string(typ): Open}, "gate approved")
}

// Halt closes a confirm gate.
func (g *Gates) Halt(ctx context.Context, typ canary.HookType) error {
	if err := checkConfirm(typ); err != nil {
		return err
	}
	return g.write(ctx, map[string]string{string(typ): Closed}, "gate halted")
}

// RequestRollback asks the release to roll back at its next tick (through the rollback hook
// from Hooks).
func (g *Gates) RequestRollback(ctx context.Context) error {
	return g.write(ctx, map[string]string{string(canary.HookRollback): Open}, "rollback requested")
}

// CancelRollback withdraws a rollback request.
func (g *Gates) CancelRollback(ctx context.Context) error {
	return g.write(ctx, map[string]string{string(canary.HookRollback): Closed}, "rollback request withdrawn")
}

// Reset closes every gate and withdraws a rollback request.
func (g *Gates) Reset(ctx context.Context) error {
	all := make(map[string]string, len(gateTypes))
	for _, t := range gateTypes {
		all[string(t)] = Closed
	}
	return g.write(ctx, all, "gates reset")
}

// State reads every gate: true is open (for rollback: requested).
func (g *Gates) State(ctx context.Context) (map[canary.HookType]bool, error) {
	data, err := g.read(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[canary.HookType]bool, len(gateTypes))
	for _, t := range gateTypes {
		out[t] = data[string(t)] == Open
	}
	return out, nil
}

// Allow answers the gate of req.Hook.Type with one GET.
func (g *Gates) Allow(ctx context.Context, req canary.GateRequest) (bool, error) {
	if err := checkType(req.Hook.Type); err != nil {
		return false, err
	}
	data, err := g.read(ctx)
	if err != nil {
		return false, err
	}
	return data[string(req.Hook.Type)] == Open, nil
}

// Hooks returns the hooks to add to canary.Config.Gates: one per gate type asked for, plus
// (unless KeepApprovals) the post-rollout hook that closes the gates when a release ends.
func (g *Gates) Hooks(types ...canary.HookType) ([]canary.Hook, error) {
	var hooks []canary.Hook
	for _, t := range types {
		if err := checkType(t); err != nil {
			return nil, err
		}
		hooks = append(hooks, canary.Hook{Name: "manual-" + string(t), Type: t, Gate: g})
	}
	if !g.keep {
		hooks = append(hooks, canary.Hook{Name: ResetHookName, Type: canary.HookPostRollout,
			Gate: canary.GateFunc(func(ctx context.Context, _ canary.GateRequest) (bool, error) {
				if err := g.Reset(ctx); err != nil {
					return false, err
				}
				return true, nil
			})})
	}
	return hooks, nil
}

func checkConfirm(typ canary.HookType) error {
	if typ == canary.HookRollback {
		return fmt.Errorf("%w: use RequestRollback and CancelRollback for rollback", ErrGateType)
	}
	return checkType(typ)
}

// read returns the ConfigMap's data; a missing ConfigMap has none.
func (g *Gates) read(ctx context.Context) (map[string]string, error) {
	cm, err := g.cms.Get(ctx, g.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err == nil:
		err = g.check(cm)
	}
	if err != nil {
		return nil, fmt.Errorf("read gates of %s from configmap %s: %w", g.target, g.name, err)
	}
	return cm.Data, nil
}

// check returns nil when cm carries the labels kubegate gives the target's gate ConfigMap,
// else an error wrapping ErrNotManaged that names it: a ConfigMap someone else made under
// that name holds no gates, and is not kubegate's to write.
func (g *Gates) check(cm *corev1.ConfigMap) error {
	by, target := cm.Labels[canary.LabelManagedBy], cm.Labels[LabelTarget]
	if by == canary.ManagedBy && target == g.target.Name {
		return nil
	}
	return fmt.Errorf("%w: configmap %s/%s has %s=%q and %s=%q, where the gates of %s are labelled %s=%s and %s=%s; delete or rename it, or label it so to hand it over",
		ErrNotManaged, cm.Namespace, cm.Name, canary.LabelManagedBy, by, LabelTarget, target,
		g.target, canary.LabelManagedBy, canary.ManagedBy, LabelTarget, g.target.Name)
}

// writeBackoff retries conflicting writes: several controllers and humans may race.
var writeBackoff = wait.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 0.5}

// write sets keys in the ConfigMap, creating it when absent; a conflicting concurrent write is
// re-read and retried.
func (g *Gates) write(ctx context.Context, set map[string]string, what string) error {
	retriable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	// client-go's OnError returns nil for an error that wraps context.Canceled or
	// DeadlineExceeded (a request timeout, a cancelled ctx), taking it for the end of its own
	// backoff: the last error is kept here instead.
	var last error
	err := retry.OnError(writeBackoff, retriable, func() error {
		last = g.writeOnce(ctx, set)
		return last
	})
	if err == nil {
		err = last
	}
	if err != nil {
		return fmt.Errorf("write gates of %s to configmap %s: %w", g.target, g.name, err)
	}
	g.log.Info(what, "set", set)
	return nil
}

// writeOnce reads the ConfigMap and writes set into it (creating it when absent).
func (g *Gates) writeOnce(ctx context.Context, set map[string]string) error {
	cm, err := g.cms.Get(ctx, g.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = g.cms.Create(ctx, g.newConfigMap(set), metav1.CreateOptions{FieldManager: fieldManager})
		return err
	}
	if err != nil {
		return err
	}
	if err := g.check(cm); err != nil {
		return err
	}
	if hasAll(cm.Data, set) {
		return nil
	}
	cm = cm.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	maps.Copy(cm.Data, set)
	_, err = g.cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager})
	return err
}

func (g *Gates) newConfigMap(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      g.name,
			Namespace: g.target.Namespace,
			Labels:    map[string]string{canary.LabelManagedBy: canary.ManagedBy, LabelTarget: g.target.Name},
		},
		Data: maps.Clone(data),
	}
}

func hasAll(data, set map[string]string) bool {
	for k, v := range set {
		if data[k] != v {
			return false
		}
	}
	return true
}
