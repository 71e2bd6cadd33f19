package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/wasmsr/wasmsr/hostrt/snapshot"
)

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "make a key file for --snapshot-key: one new random key, readable by its owner only",
		ArgsUsage: "FILE",
		Description: "The first key of a key file signs snapshots and jobs; every key in it verifies them.\n" +
			"To rotate keys, put a new key's line first and keep the old one after it until no snapshot\n" +
			"signed with it is needed: wasmsr keygen new.key && cat old.key >> new.key",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("keygen: expected one FILE argument, got %d", c.NArg())
			}
			path := c.Args().First()
			line, err := snapshot.NewKey(rand.Reader)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s: exists already (keygen never overwrites a key)", path)
			}
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(f, "# wasmsr snapshot key %s\n%s\n", mustKeyID(line), line); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
}

// mustKeyID is the id of a key line NewKey made.
func mustKeyID(line string) string {
	keys, err := snapshot.ParseKeys([]byte(line))
	if err != nil {
		panic(err) // NewKey's lines parse
	}
	return keys.SigningKeyID()
}
