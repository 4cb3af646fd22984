// kubectl for machines whose Debian release has none recent enough
// (bookworm ships 1.20): the command of the published k8s.io/kubectl module,
// at the version of the test API servers (../versions.env), built by
// scripts/install-deps.sh when no kubectl is on PATH.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Client authentication plugins (exec, OIDC), as the upstream command has.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
