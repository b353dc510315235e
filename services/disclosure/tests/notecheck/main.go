// notecheck verifies a C2SP checkpoint with implementations the project did not write:
// golang.org/x/mod/sumdb/note for the signed note and filippo.io/torchwood for the checkpoint.
//
//	notecheck <checkpoint file> <log verifier key> <witness verifier key>
//
// Prints "<origin> <size> verified=<n> witness=<yes|no>"; exits 1 when the log's signature
// does not verify. The witness's cosignature (tlog-cosignature/v1) is found by its key name and
// id; x/mod's note cannot verify that algorithm, so the test checks it separately.
package main

import (
	"fmt"
	"os"
	"strings"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	msg, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	logKey, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail(err)
	}
	n, err := note.Open(msg, note.VerifierList(logKey))
	if err != nil {
		fail(err)
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		fail(err)
	}
	parts := strings.SplitN(os.Args[3], "+", 3)
	witness := "no"
	for _, s := range n.UnverifiedSigs {
		if s.Name == parts[0] && fmt.Sprintf("%08x", s.Hash) == strings.ToLower(parts[1]) {
			witness = "yes"
		}
	}
	fmt.Printf("%s %d verified=%d witness=%s\n", c.Origin, c.N, len(n.Sigs), witness)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
