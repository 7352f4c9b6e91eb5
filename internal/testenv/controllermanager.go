package testenv

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Controllers returns what kube-controller-manager runs in the bed: enough for Deployments and
// DaemonSets (on the Node objects a test creates) to roll out and report availability and progress, HPAs to be reconciled, owners to cascade and
// namespaces to be deleted. (No scheduler, kubelet or node lifecycle: see Kubelet.)
func Controllers() []string {
	return []string{
		"deployment",
		"replicaset",
		"daemonset",
		"horizontalpodautoscaling",
		"garbagecollector",
		"namespace",
		"serviceaccount",
	}
}

// writeKubeconfig writes a kubeconfig for server with the given CA and bearer token.
func writeKubeconfig(path, server string, caPEM []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testenv"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: user}
	cfg.CurrentContext = "testenv"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig for %s: %w", user, err)
	}
	return nil
}

// startControllerManager runs kube-controller-manager against the apiserver at server and waits
// until its controllers work: the serviceaccount controller has created default/default.
func startControllerManager(ctx context.Context, path, dir, server string, caPEM []byte, token string,
	client kubernetes.Interface, extraArgs []string) (*process, error) {
	kubeconfig := filepath.Join(dir, "kube-controller-manager.kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, caPEM, ControllerManagerUser, token); err != nil {
		return nil, err
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(Controllers(), ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--controller-start-interval=0s",
		// The default 20 QPS throttles the controllers when tests create many objects at once.
		"--kube-api-qps=200",
		"--kube-api-burst=400",
	}
	args = append(args, extraArgs...)
	p, err := startProcess(binControllerManager, filepath.Join(dir, "kube-controller-manager.log"), path, args...)
	if err != nil {
		return nil, err
	}
	err = waitUntil(ctx, p, "wait for kube-controller-manager", func(ctx context.Context) error {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if err != nil {
		p.stop(0)
		return nil, err
	}
	return p, nil
}
