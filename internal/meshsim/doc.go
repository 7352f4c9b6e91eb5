// Package meshsim is a simulated Linkerd data plane for end-to-end tests on the test bed.
//
// This part compiles route objects into a routing table as Linkerd's proxies apply them: SMI
// TrafficSplits of any version (weights as integers or quantities, v1alpha3+ matches through
// HTTPRouteGroups) and Gateway API HTTPRoutes attached to a Service (GAMMA), ranked by Gateway
// API's match precedence, with backends chosen by smooth weighted round-robin.
package meshsim
