//! posfield-server: document and blob sync for agents, projections for the back office, and the back office itself.
