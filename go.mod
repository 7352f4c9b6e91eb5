module github.com/canarykit/canarykit

go 1.24.0
