// <usage>
using Microsoft.ML;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;

// Example data: procedural pairs in the DiffCap layout (train.jsonl, test.jsonl, images/). Point
// dataFolder at your own pairs instead, in that layout or a dataset's own (LoadDataset's formats).
string dataFolder = Path.Combine(Path.GetTempPath(), "onediff-getting-started");
ProceduralPairGenerator.Write(dataFolder, pairs: args.Length > 0 ? int.Parse(args[0]) : 300, seed: 1, imageSize: 64);

var ml = new MLContext(seed: 1);
var dc = ml.DiffCaptioning();

// Columns: Id, Image1, Image2 (image paths), Prompt, References (vector of text), Task, Group.
IDataView train = dc.LoadDataset("diffcap", dataFolder, "train");
IDataView test = dc.LoadDataset("diffcap", dataFolder, "test");

// Tiny: a small OneDiff from random weights that trains on a CPU in minutes, with its own settings
// that learn. (Vicuna7B and Qwen2_7B are the paper's model and need its pretrained folders.)
var trainer = dc.Trainers.OneDiff(preset: "Tiny", batchSize: 16);
using DiffCaptionTransformer model = trainer.Fit(train); // holds native memory: dispose it

IDataView scored = model.Transform(test); // adds the column "PredictedCaption"
DiffCaptionMetrics metrics = dc.Evaluate(scored, "References", "PredictedCaption", groupColumnName: "Group");
Console.WriteLine(metrics.ToTable());

string modelPath = Path.Combine(dataFolder, "onediff-tiny.zip");
ml.Model.Save(model, train.Schema, modelPath);

// In another process: load the model and caption one pair at a time with classes of your own.
var serving = new MLContext();
ITransformer loaded = serving.Model.Load(modelPath, out _);
using (var engine = serving.Model.CreatePredictionEngine<ImagePair, PairCaption>(loaded))
{
    var pair = new ImagePair { Image1 = Path.Combine(dataFolder, "images", "000004_a.png"), Image2 = Path.Combine(dataFolder, "images", "000004_b.png") };
    Console.WriteLine($"caption: {engine.Predict(pair).PredictedCaption}");
}
(loaded as IDisposable)?.Dispose();

public sealed class ImagePair
{
    public string Image1 { get; set; } = "";
    public string Image2 { get; set; } = "";
}

// The property's name is the output column's: a property of another name stays empty.
public sealed class PairCaption
{
    public string PredictedCaption { get; set; } = "";
}
// </usage>
