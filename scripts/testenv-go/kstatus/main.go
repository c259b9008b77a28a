// kstatus: the status kstatus-based tools (Flux, Argo CD health, cli-utils) compute for objects,
// with the cli-utils library itself. Reads a JSON list of objects on stdin and prints one line
// per object: `<name> <status> <message>`.
package main

import (
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	var objects []map[string]interface{}
	input, err := io.ReadAll(os.Stdin)
	if err == nil {
		// Numbers as int64, as the API machinery reads them.
		err = utiljson.Unmarshal(input, &objects)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus: reading a JSON list of objects:", err)
		os.Exit(2)
	}
	for _, object := range objects {
		u := &unstructured.Unstructured{Object: object}
		result, err := status.Compute(u)
		if err != nil {
			fmt.Printf("%s Error %s\n", u.GetName(), err)
			continue
		}
		fmt.Printf("%s %s %s\n", u.GetName(), result.Status, result.Message)
	}
}
