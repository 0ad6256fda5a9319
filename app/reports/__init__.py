"""reports domain: read-only statistics (分区域、分行业统计分析) and their XLSX exports."""
