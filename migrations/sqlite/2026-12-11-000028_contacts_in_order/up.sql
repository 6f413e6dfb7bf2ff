-- A search judges whether text is common from the company's newest contacts: their names in
-- order, read through this index whatever the size of the company or of the database.
CREATE INDEX contacts_company_recent ON contacts (company_id, id);
