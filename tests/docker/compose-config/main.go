// compose-config: `docker compose config` without Docker, for the tests of docker/compose.yaml.
//
// It loads a Compose project with the compose-spec loader (compose-go) exactly as the `config`
// command of the Compose CLI does (docker/compose v5.6.0, cmd/compose/config.go and
// pkg/compose/loader.go: the same loader options in the same order, the same post-processing),
// then prints the normalized project. The CLI itself drags in the Docker client, BuildKit and
// containerd; this is its loader alone, so it builds in seconds and needs no engine.
//
//	compose-config [--project-directory DIR] [--env-file FILE]... [--format yaml|json] -f FILE...
//
// Exit status: 0 with the normalized project on stdout; 1 with the loader's message on stderr
// when the project is invalid; 2 on a usage error. Warnings (e.g. an unset variable) go to stderr
// as the CLI prints them.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	var files, envFiles repeated
	flags := flag.NewFlagSet("compose-config", flag.ContinueOnError)
	flags.Var(&files, "f", "compose file (repeatable)")
	flags.Var(&files, "file", "compose file (repeatable)")
	flags.Var(&envFiles, "env-file", "environment file (repeatable); none: DIR/.env")
	projectDir := flags.String("project-directory", "", "working directory (default: the first file's folder)")
	format := flags.String("format", "yaml", "output format: yaml or json")
	if err := flags.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "compose-config: unexpected arguments %q (services are not selectable here)\n", flags.Args())
		os.Exit(2)
	}
	if *format != "yaml" && *format != "json" {
		fmt.Fprintf(os.Stderr, "compose-config: unsupported format %q\n", *format)
		os.Exit(2)
	}
	content, err := config(files, envFiles, *projectDir, *format)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(content)
}

func config(files, envFiles []string, projectDir, format string) ([]byte, error) {
	// configOptions.toProjectOptionsFns: `config` without --no-* flags
	fns := []cli.ProjectOptionsFn{
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithDefaultProfiles(),
		cli.WithDiscardEnvFile,
	}
	// composeService.buildProjectOptions
	fns = append(fns, cli.WithWorkingDirectory(projectDir), cli.WithOsEnv)
	if _, present := os.LookupEnv("PWD"); !present {
		if pwd, err := os.Getwd(); err == nil {
			fns = append(fns, cli.WithEnv([]string{"PWD=" + pwd}))
		}
	}
	fns = append(fns,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		// applied twice, as the CLI does: a project directory other than PWD has its own .env
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(),
		cli.WithName(""),
	)
	options, err := cli.NewProjectOptions(files, fns...)
	if err != nil {
		return nil, err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	project, err = postProcess(project)
	if err != nil {
		return nil, err
	}
	// runConfigInterpolate
	project, err = project.WithServicesEnvironmentResolved(true)
	if err != nil {
		return nil, err
	}
	if err := project.CheckContainerNameUnicity(); err != nil {
		return nil, err
	}
	var content []byte
	if format == "json" {
		content, err = project.MarshalJSON()
	} else {
		content, err = project.MarshalYAML()
	}
	if err != nil {
		return nil, err
	}
	// the output is itself a valid compose file: a literal $ stays escaped
	return bytes.ReplaceAll(content, []byte{'$'}, []byte{'$', '$'}), nil
}

// composeService.postProcessProject, less the labels the CLI puts on containers (not printed)
func postProcess(project *types.Project) (*types.Project, error) {
	if project.Name == "" {
		return nil, fmt.Errorf("project name can't be empty. Use ProjectName option to set a valid name")
	}
	project, err := project.WithServicesEnabled()
	if err != nil {
		return nil, err
	}
	project, err = project.WithSelectedServices(nil)
	if err != nil {
		return nil, err
	}
	return project.WithoutUnnecessaryResources(), nil
}
