// cri-pod: the few CRI calls the end-to-end tests make against containerd,
// as kubelet makes them (there is no crictl in Debian).
//
//	cri-pod <socket> run <name> <uid> <namespace> [<hostPort>:<containerPort> ...]
//	    prints {"id": ..., "ip": ..., "additionalIps": [...], "netns": ...};
//	    with CRI_POD_HOST_NETWORK=1 the pod uses the host's network
//	cri-pod <socket> status <id>
//	cri-pod <socket> stop <id>
//	cri-pod <socket> rm <id>
//	cri-pod <socket> list
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "cri-pod: "+format+"\n", args...)
	os.Exit(1)
}

type podInfo struct {
	ID            string   `json:"id"`
	State         string   `json:"state"`
	IP            string   `json:"ip"`
	AdditionalIPs []string `json:"additionalIps"`
	Netns         string   `json:"netns"`
}

// The network namespace path, from the verbose status's runtime spec.
func netnsOf(info map[string]string) string {
	var v struct {
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct {
					Type string `json:"type"`
					Path string `json:"path"`
				} `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	}
	if err := json.Unmarshal([]byte(info["info"]), &v); err != nil {
		return ""
	}
	for _, ns := range v.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" {
			return ns.Path
		}
	}
	return ""
}

func status(ctx context.Context, c runtime.RuntimeServiceClient, id string) podInfo {
	st, err := c.PodSandboxStatus(ctx, &runtime.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		fail("status %s: %v", id, err)
	}
	p := podInfo{ID: id, State: st.Status.State.String(), Netns: netnsOf(st.Info)}
	if n := st.Status.Network; n != nil {
		p.IP = n.Ip
		for _, a := range n.AdditionalIps {
			p.AdditionalIPs = append(p.AdditionalIPs, a.Ip)
		}
	}
	return p
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: cri-pod <socket> run|status|stop|rm|list ...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, "unix://"+os.Args[1], grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		fail("connect %s: %v", os.Args[1], err)
	}
	defer conn.Close()
	c := runtime.NewRuntimeServiceClient(conn)
	args := os.Args[3:]
	out := json.NewEncoder(os.Stdout)
	switch os.Args[2] {
	case "run":
		if len(args) < 3 {
			fail("run <name> <uid> <namespace> [hostPort:containerPort ...]")
		}
		// CRI_POD_HOST_NETWORK=1: the host's network (no CNI at all).
		network := runtime.NamespaceMode_POD
		if os.Getenv("CRI_POD_HOST_NETWORK") == "1" {
			network = runtime.NamespaceMode_NODE
		}
		cfg := &runtime.PodSandboxConfig{
			Metadata:     &runtime.PodSandboxMetadata{Name: args[0], Uid: args[1], Namespace: args[2]},
			LogDirectory: "/tmp",
			Linux: &runtime.LinuxPodSandboxConfig{
				SecurityContext: &runtime.LinuxSandboxSecurityContext{
					NamespaceOptions: &runtime.NamespaceOption{Network: network},
				},
			},
		}
		if network == runtime.NamespaceMode_POD {
			// A host-network pod shares the host's UTS namespace too.
			cfg.Hostname = args[0]
		}
		for _, m := range args[3:] {
			parts := strings.SplitN(m, ":", 2)
			if len(parts) != 2 {
				fail("bad port mapping %q", m)
			}
			h, err1 := strconv.Atoi(parts[0])
			p, err2 := strconv.Atoi(parts[1])
			if err1 != nil || err2 != nil {
				fail("bad port mapping %q", m)
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtime.PortMapping{
				Protocol: runtime.Protocol_TCP, HostPort: int32(h), ContainerPort: int32(p),
			})
		}
		r, err := c.RunPodSandbox(ctx, &runtime.RunPodSandboxRequest{Config: cfg})
		if err != nil {
			fail("run: %v", err)
		}
		_ = out.Encode(status(ctx, c, r.PodSandboxId))
	case "status":
		_ = out.Encode(status(ctx, c, args[0]))
	case "stop":
		if _, err := c.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: args[0]}); err != nil {
			fail("stop: %v", err)
		}
	case "rm":
		if _, err := c.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: args[0]}); err != nil {
			fail("rm: %v", err)
		}
	case "list":
		r, err := c.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
		if err != nil {
			fail("list: %v", err)
		}
		ids := []string{}
		for _, p := range r.Items {
			ids = append(ids, p.Id)
		}
		_ = out.Encode(ids)
	default:
		fail("unknown command %q", os.Args[2])
	}
}
