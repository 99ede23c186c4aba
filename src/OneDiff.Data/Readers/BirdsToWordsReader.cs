namespace OneDiff.Data.Readers;

/// <summary>
/// Birds-to-Words (Forbes et al. 2019): one TSV (header: img1ObservationURL, img1ImgURL,
/// img1Species, img1Selection, img2ObservationURL, img2ImgURL, img2Species, img2Selection, split,
/// annN, description) with one row per annotation; rows are grouped by image pair. Images are the
/// downloaded files under <c>images/</c>, named by the last segment of their URL. Descriptions are
/// kept as shipped (lower-cased, tokenised, with animal1 / animal2).
/// </summary>
public sealed class BirdsToWordsReader : DatasetReader
{
    public override string Name => "birds-to-words";

    public override List<DiffCapRecord> Read(string root, ReadOptions o, DataReport report)
    {
        string file = File.Exists(root) ? root : Directory.GetFiles(root, "*.tsv").OrderBy(f => f).FirstOrDefault()
            ?? throw new FileNotFoundException($"{root}: no Birds-to-Words .tsv file");
        string folder = File.Exists(root) ? Path.GetDirectoryName(Path.GetFullPath(root))! : root;
        using var reader = new StreamReader(file);
        var header = (reader.ReadLine() ?? throw new InvalidDataException($"{file}: empty file")).Split('\t');
        int Col(string name)
        {
            int i = Array.IndexOf(header, name);
            return i >= 0 ? i : throw new InvalidDataException($"{file}: missing column '{name}'");
        }
        int c1 = Col("img1ImgURL"), c2 = Col("img2ImgURL"), cs = Col("split"), cd = Col("description");
        var pairs = new Dictionary<(string, string), List<string?>>();
        var order = new List<(string, string)>();
        string line;
        int row = 1;
        string split = o.Split == "valid" ? "val" : o.Split;
        while ((line = reader.ReadLine()!) is not null)
        {
            row++;
            if (line.Length == 0) continue;
            var f = line.Split('\t');
            if (f.Length < header.Length) { report.Problem($"row {row}", file, $"has {f.Length} fields, the header {header.Length}"); continue; }
            if (f[cs] != split) continue;
            var key = (f[c1], f[c2]);
            if (!pairs.TryGetValue(key, out var list)) { pairs[key] = list = []; order.Add(key); }
            list.Add(f[cd]);
        }
        var records = new List<DiffCapRecord>();
        for (int i = 0; i < order.Count; i++)
        {
            var (u1, u2) = order[i];
            string n1 = FileName(u1), n2 = FileName(u2);
            string id = $"{Path.GetFileNameWithoutExtension(n1)}|{Path.GetFileNameWithoutExtension(n2)}";
            string record = $"pair {id}";
            var captions = CleanCaptions(pairs[order[i]]);
            if (captions.Count == 0) { report.Problem(record, file, "has no descriptions"); continue; }
            string? a = Image(folder, record, o, report, $"images/{n1}", n1);
            string? b = Image(folder, record, o, report, $"images/{n2}", n2);
            if (a is null || b is null) continue;
            records.Add(new DiffCapRecord(id, a, b, PromptOf(o), captions, Name, null, $"{Name}/{split}"));
        }
        return records;
    }

    static string FileName(string url)
    {
        string path = Uri.TryCreate(url, UriKind.Absolute, out var u) ? u.AbsolutePath : url;
        return Path.GetFileName(path.TrimEnd('/'));
    }
}
