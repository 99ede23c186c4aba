using System.CommandLine;
using OneDiff.Modeling.Checkpoints;

namespace OneDiff.Cli.Commands;

/// <summary><c>onediff checkpoint inspect PATH</c>: the tensors of a safetensors checkpoint.</summary>
public static class CheckpointCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "a .safetensors file, a model.safetensors.index.json, or a model folder" };
        var inspect = new Command("inspect", "List the tensors of a safetensors checkpoint (name, dtype, shape)") { path };
        inspect.SetAction(parse =>
        {
            using var checkpoint = SafetensorsCheckpoint.Open(parse.GetValue(path)!);
            long total = 0;
            foreach (var name in checkpoint.Names.OrderBy(n => n, StringComparer.Ordinal))
            {
                var e = checkpoint.Entry(name);
                total += e.ElementCount;
                Console.WriteLine($"{name}\t{SafetensorsDType.NameOf(e.DType)}\t[{string.Join(", ", e.Shape)}]");
            }
            Console.WriteLine($"{checkpoint.Names.Count} tensors, {total:N0} elements, {checkpoint.Files.Count} file(s)");
            return 0;
        });
        return new Command("checkpoint", "Checkpoint tools") { inspect };
    }
}
