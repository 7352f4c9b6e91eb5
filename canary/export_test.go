package canary

// NextOnGrid exposes nextOnGrid to the package's external tests.
var NextOnGrid = nextOnGrid

// CloneMatches exposes cloneMatches to the package's external tests.
var CloneMatches = cloneMatches

// GridOffset exposes gridOffset to the package's external tests.
var GridOffset = gridOffset
