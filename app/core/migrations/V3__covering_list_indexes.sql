-- Version 3: the visit list reads only its indexes. The store is encrypted
-- page by page (SQLCipher), and the table's pages also carry each visit's
-- document: a list read from them decrypted every one of those pages.
DROP INDEX visits_by_updated;
DROP INDEX visits_by_status;
CREATE INDEX visits_list ON visits (updated_at DESC, id, kind, status, merchant, serial, assignee, unsynced);
CREATE INDEX visits_list_by_status ON visits (status, updated_at DESC, id, kind, merchant, serial, assignee, unsynced);
