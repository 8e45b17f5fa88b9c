-- cluster.spiked (the flaky spec, §6.2) fires once per cluster and UTC day:
-- the day it last fired.
ALTER TABLE clusters ADD COLUMN spiked_day INTEGER;
