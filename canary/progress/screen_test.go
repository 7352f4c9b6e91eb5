package progress_test

import (
	"fmt"
	"strconv"
	"strings"
)

// screen is the little of a terminal that Live's output needs: printable text, line feed (as a
// terminal with onlcr shows it: back to the first column), carriage return, cursor up (CSI n A),
// erase below (CSI J), erase line (CSI K) and colours (CSI ... m, ignored). Any other control
// character or sequence is an error: Live must not send what it does not mean.
type screen struct {
	rows     [][]rune
	row, col int
	seqs     []string // every sequence received, in order
}

// feed interprets s, returning an error on anything the screen does not know.
func (sc *screen) feed(s string) error {
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\n':
			sc.row, sc.col = sc.row+1, 0
		case r == '\r':
			sc.col = 0
		case r == 0x1b:
			if i+1 >= len(rs) || rs[i+1] != '[' {
				return fmt.Errorf("escape without CSI at %d", i)
			}
			j := i + 2
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == ';') {
				j++
			}
			if j >= len(rs) {
				return fmt.Errorf("unterminated CSI at %d", i)
			}
			param, final := string(rs[i+2:j]), rs[j]
			sc.seqs = append(sc.seqs, string(rs[i:j+1]))
			if err := sc.csi(param, final); err != nil {
				return err
			}
			i = j
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return fmt.Errorf("control character %U at %d", r, i)
		default:
			sc.put(r)
		}
	}
	return nil
}

func (sc *screen) csi(param string, final rune) error {
	switch final {
	case 'A':
		n := 1
		if param != "" {
			var err error
			if n, err = strconv.Atoi(param); err != nil {
				return err
			}
		}
		sc.row = max(0, sc.row-n)
	case 'J':
		if param != "" && param != "0" {
			return fmt.Errorf("erase display %q not expected", param)
		}
		sc.line()
		sc.rows[sc.row] = sc.rows[sc.row][:min(sc.col, len(sc.rows[sc.row]))]
		sc.rows = sc.rows[:sc.row+1]
	case 'K':
		sc.line()
		sc.rows[sc.row] = sc.rows[sc.row][:min(sc.col, len(sc.rows[sc.row]))]
	case 'm':
	default:
		return fmt.Errorf("CSI %s%c not expected", param, final)
	}
	return nil
}

// line makes sure the cursor's row exists.
func (sc *screen) line() {
	for len(sc.rows) <= sc.row {
		sc.rows = append(sc.rows, nil)
	}
}

func (sc *screen) put(r rune) {
	sc.line()
	for len(sc.rows[sc.row]) < sc.col {
		sc.rows[sc.row] = append(sc.rows[sc.row], ' ')
	}
	if sc.col < len(sc.rows[sc.row]) {
		sc.rows[sc.row][sc.col] = r
	} else {
		sc.rows[sc.row] = append(sc.rows[sc.row], r)
	}
	sc.col++
}

// String is the screen's text, one line per row, without trailing empty rows.
func (sc *screen) String() string {
	var lines []string
	for _, r := range sc.rows {
		lines = append(lines, string(r))
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

// cursor reports where the next character goes.
func (sc *screen) cursor() (row, col int) { return sc.row, sc.col }
