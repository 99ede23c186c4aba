using Microsoft.ML;
using OneDiff.Data;
using OneDiff.Data.Readers;

namespace OneDiff.MLNet;

public sealed partial class DiffCaptioningCatalog
{
    /// <summary>An image-pair table (Id, Image1, Image2, Prompt, References, Task, Group) from DiffCap records.</summary>
    public IDataView LoadImagePairs(IEnumerable<DiffCapRecord> records) => ImagePairTable.FromRecords(Context, records);

    /// <summary>Reads a dataset from its authors' layout (<see cref="DatasetReader.Formats"/>) into an
    /// image-pair table. With <paramref name="skipBad"/>, bad records are skipped and logged;
    /// otherwise the first one is an error naming it.</summary>
    public IDataView LoadDataset(string format, string root, string split = "train", bool skipBad = false)
    {
        var report = new DataReport(skipBad ? BadInputMode.Skip : BadInputMode.Error);
        var records = DatasetReader.ForFormat(format).Read(root, new ReadOptions { Split = split }, report);
        if (report.Skipped.Count > 0)
        {
            using var ch = Host.Start("LoadDataset");
            ch.Warning(Microsoft.ML.Runtime.MessageSensitivity.None, $"{format} {split}: skipped {report.Skipped.Count} record(s); first: {report.Skipped[0]}");
        }
        return LoadImagePairs(records);
    }
}

public sealed partial class DiffCaptioningCatalog
{
    sealed class CaptionRow
    {
        public string Image { get; set; } = "";
        public string Caption { get; set; } = "";
    }

    /// <summary>Single-image captions (LLaVA's JSON format) as a table (Image, Caption) for stage I.</summary>
    public IDataView LoadImageCaptions(string llavaJson, string imageRoot, bool skipBad = false)
    {
        var report = new DataReport(skipBad ? BadInputMode.Skip : BadInputMode.Error);
        var captions = new LlavaCaptionReader().Read(llavaJson, imageRoot, report);
        return Context.Data.LoadFromEnumerable(captions.Select(c => new CaptionRow { Image = c.Image, Caption = c.Caption }).ToList());
    }
}
