using OneDiff.Data.Images;
using OneDiff.Data.Readers;

namespace OneDiff.Data;

/// <summary>What <c>onediff data inspect</c> reports: counts and every problem found.</summary>
public sealed record InspectionResult(string Format, string Split, int Records, int Pairs, int References, IReadOnlyList<DataProblem> Problems);

/// <summary>Reads a dataset in skip mode and decodes every image, collecting each problem with its
/// record and file.</summary>
public static class DatasetInspector
{
    public static InspectionResult Inspect(string format, string root, string split, bool decodeImages = true)
    {
        var report = new DataReport(BadInputMode.Skip);
        var reader = DatasetReader.ForFormat(format);
        var records = reader.Read(root, new ReadOptions { Split = split }, report);
        var problems = new List<DataProblem>(report.Skipped);
        var bad = new HashSet<string>();
        if (decodeImages)
        {
            foreach (var p in ImageCheck.Problems(records.Select(r => (r, ImageInput.FromPath(r.Image1), ImageInput.FromPath(r.Image2)))))
            {
                problems.Add(p);
                bad.Add(p.File!);
            }
        }
        var good = records.Where(r => !bad.Contains(r.Image1) && !bad.Contains(r.Image2)).ToList();
        return new InspectionResult(format, split, good.Count, good.Select(r => (r.Image1, r.Image2)).Distinct().Count(), good.Sum(r => r.Captions.Count), problems);
    }
}
