package canary

// NextOnGrid exposes nextOnGrid to the package's external tests.
var NextOnGrid = nextOnGrid
