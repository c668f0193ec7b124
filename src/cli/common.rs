//! Options shared by every command that reads logs.
