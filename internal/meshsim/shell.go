package meshsim

import (
	"fmt"
	"strings"
)

// splitPipeline splits a command line into the words of each command of a pipeline
// ("curl -sd 'test' http://x/token | grep token"), with the shell's quoting: single quotes keep
// everything, double quotes keep all but \" \\ \$ \` escapes, a backslash outside quotes
// escapes the next character. What a shell would expand or redirect (variables, command
// substitution, redirections, lists with ; && ||, background &) is refused rather than
// misread.
func splitPipeline(line string) ([][]string, error) {
	var (
		stages [][]string
		words  []string
		word   strings.Builder
		inWord bool
	)
	endWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	endStage := func() error {
		endWord()
		if len(words) == 0 {
			return fmt.Errorf("command line %q: empty command in pipeline", line)
		}
		stages = append(stages, words)
		words = nil
		return nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			endWord()
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("command line %q: unterminated single quote", line)
			}
			word.WriteString(line[i+1 : i+1+j])
			inWord, i = true, i+1+j
		case c == '"':
			inWord = true
			for i++; ; i++ {
				if i >= len(line) {
					return nil, fmt.Errorf("command line %q: unterminated double quote", line)
				}
				if line[i] == '"' {
					break
				}
				if line[i] == '$' || line[i] == '`' {
					return nil, fmt.Errorf("command line %q: expansions are not supported", line)
				}
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0 {
					i++
				}
				word.WriteByte(line[i])
			}
		case c == '\\':
			if i+1 < len(line) {
				i++
				word.WriteByte(line[i])
				inWord = true
			}
		case c == '|':
			if i+1 < len(line) && line[i+1] == '|' {
				return nil, fmt.Errorf("command line %q: || is not supported", line)
			}
			if err := endStage(); err != nil {
				return nil, err
			}
		case strings.IndexByte(";&<>()$`", c) >= 0:
			return nil, fmt.Errorf("command line %q: %q is not supported (no shell runs here)", line, c)
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if err := endStage(); err != nil {
		return nil, err
	}
	return stages, nil
}

// splitWords splits a single command (no pipeline) into words.
func splitWords(line string) ([]string, error) {
	stages, err := splitPipeline(line)
	if err != nil {
		return nil, err
	}
	if len(stages) != 1 {
		return nil, fmt.Errorf("command line %q: want one command, got a pipeline", line)
	}
	return stages[0], nil
}
