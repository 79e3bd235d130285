// Package junitcheck reads a JUnit XML file back as the CI systems do:
// it validates it against the schema Jenkins' xUnit plugin uses
// (testdata/junit/junit-10.xsd) with xmllint, and checks what GitLab's
// parser relies on (one <testsuites> root; each <testcase> with a name, a
// classname and a time that reads as a number, unique within its suite;
// a <failure>, <error> or <skipped> carrying its message as text, which is
// what GitLab shows). The tests of every JUnit writer use it.
package junitcheck

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/callstat/callstat/internal/testkit/testdata"
)

// Doc is a JUnit file as read back.
type Doc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Suites   []Suite  `xml:"testsuite"`
}

// Suite is a <testsuite>.
type Suite struct {
	Name       string     `xml:"name,attr"`
	Tests      int        `xml:"tests,attr"`
	Failures   int        `xml:"failures,attr"`
	Errors     int        `xml:"errors,attr"`
	Skipped    int        `xml:"skipped,attr"`
	Properties []Property `xml:"properties>property"`
	Cases      []Case     `xml:"testcase"`
}

// Property is a suite's <property>.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Case is a <testcase>.
type Case struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      string   `xml:"time,attr"`
	Failure   *Problem `xml:"failure"`
	Error     *Problem `xml:"error"`
	Skipped   *Problem `xml:"skipped"`
	SystemOut string   `xml:"system-out"`
}

// Problem is a <failure>, <error> or <skipped>.
type Problem struct {
	Type    string `xml:"type,attr"`
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// Status is what GitLab makes of a case: failed, error, skipped or
// success.
func (c Case) Status() string {
	switch {
	case c.Failure != nil:
		return "failed"
	case c.Error != nil:
		return "error"
	case c.Skipped != nil:
		return "skipped"
	}
	return "success"
}

// Property returns a suite property's value.
func (s Suite) Property(name string) string {
	for _, p := range s.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// activeSupportTypes are the values of a "type" attribute that GitLab's
// XML reader (ActiveSupport's Hash.from_xml) converts the element's text
// with, or refuses outright ("yaml", "symbol"): a failure type must not be
// one of them.
var activeSupportTypes = map[string]bool{
	"symbol": true, "date": true, "datetime": true, "dateTime": true, "integer": true, "float": true, "decimal": true,
	"double": true, "boolean": true, "string": true, "base64Binary": true, "binary": true, "file": true, "yaml": true, "array": true,
}

// Check validates data against the schema with xmllint (the test fails
// when xmllint is missing: `make test-deps` installs libxml2-utils),
// checks GitLab's expectations, and returns the document.
func Check(t testing.TB, data []byte) Doc {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatalf("xmllint is not installed (`make test-deps` installs the Debian package libxml2-utils): %v", err)
	}
	file := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	schema := testdata.Path(t, "junit", "junit-10.xsd")
	out, err := exec.Command(xmllint, "--noout", "--schema", schema, file).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint --schema junit-10.xsd: %v\n%s\n--- the file:\n%s", err, out, data)
	}

	var doc Doc
	if err := xml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		t.Fatalf("reading the JUnit file back: %v", err)
	}
	if len(doc.Suites) == 0 {
		t.Errorf("no <testsuite>: GitLab needs at least one level of testsuites or testsuite")
	}
	tests, failures, errors := 0, 0, 0
	for _, s := range doc.Suites {
		if s.Name == "" {
			t.Errorf("a testsuite without a name")
		}
		seen := map[string]bool{}
		counts := map[string]int{}
		for _, c := range s.Cases {
			key := c.Classname + "\x00" + c.Name
			if c.Name == "" || c.Classname == "" {
				t.Errorf("suite %q: a testcase without a name or classname: %+v", s.Name, c)
			}
			if seen[key] {
				t.Errorf("suite %q: two testcases %s / %s: GitLab keys cases by suite, classname and name", s.Name, c.Classname, c.Name)
			}
			seen[key] = true
			if _, err := strconv.ParseFloat(c.Time, 64); err != nil {
				t.Errorf("testcase %q: time %q is not a number", c.Name, c.Time)
			}
			counts[c.Status()]++
			for _, p := range []*Problem{c.Failure, c.Error, c.Skipped} {
				if p == nil {
					continue
				}
				if p.Message == "" || p.Text == "" {
					t.Errorf("testcase %q: a %s without its message as attribute and text (GitLab shows the text): %+v",
						c.Name, c.Status(), *p)
				}
				if activeSupportTypes[p.Type] {
					t.Errorf("testcase %q: type %q, which GitLab's XML reader converts or refuses", c.Name, p.Type)
				}
			}
		}
		if s.Tests != len(s.Cases) || s.Failures != counts["failed"] || s.Errors != counts["error"] || s.Skipped != counts["skipped"] {
			t.Errorf("suite %q counts tests %d failures %d errors %d skipped %d; its cases make %d, %d, %d, %d",
				s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases), counts["failed"], counts["error"], counts["skipped"])
		}
		tests, failures, errors = tests+s.Tests, failures+s.Failures, errors+s.Errors
	}
	if doc.Tests != tests || doc.Failures != failures || doc.Errors != errors {
		t.Errorf("testsuites counts %d/%d/%d, its suites %d/%d/%d", doc.Tests, doc.Failures, doc.Errors, tests, failures, errors)
	}
	return doc
}
