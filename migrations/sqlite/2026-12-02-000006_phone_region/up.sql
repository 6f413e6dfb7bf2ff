-- The country whose numbers a company's customers write without a country code: free-text
-- masking asks the phone-number parser about national numbers of this region. The masked
-- copies of messages were made by the older digit-count rule; clearing them makes the binary
-- rebuild them with the parser right after migrating.
ALTER TABLE companies ADD COLUMN phone_region TEXT NOT NULL DEFAULT 'TR';
UPDATE messages SET body_masked = NULL;
