import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Element types the step graphs use (onnx.TensorProto.DataType). */
export type ElementType = 'float32' | 'int64' | 'bool';
const DATA_TYPE: Record<ElementType, number> = { float32: 1, int64: 7, bool: 9 };

/** A dimension: a fixed size or a symbolic name. */
export type Dim = number | string;

type AttrValue = number | number[] | string | { float: number } | { tensor: Float32Array | BigInt64Array; dims: number[] };

/**
 * Builds an ONNX graph node by node and serialises it with onnx-proto (the ONNX protobuf
 * definitions). The step graphs are built at runtime from a model's vocabulary, K and EOS, so
 * every bundle gets them without a re-export.
 */
export class GraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private counter = 0;

  constructor(
    private readonly name: string,
    private readonly opset = 17,
  ) {}

  input(name: string, type: ElementType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Names `value` as a graph output (through an Identity when it already has another name). */
  output(name: string, value: string, type: ElementType, dims: readonly Dim[]): void {
    if (value !== name) this.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [value], output: [name], name: `out_${name}` }));
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A constant tensor stored in the graph (an initializer). */
  constant(
    values: Float32Array | BigInt64Array | readonly number[],
    dims: readonly number[],
    type: ElementType = values instanceof BigInt64Array ? 'int64' : 'float32',
  ): string {
    const name = `c${this.counter++}`;
    this.initializers.push(tensorProto(name, values, dims, type));
    return name;
  }

  /** A scalar int64 constant, or a 1-D one for a list. */
  ints(values: number | readonly number[]): string {
    return Array.isArray(values)
      ? this.constant(BigInt64Array.from(values as number[], BigInt), [values.length], 'int64')
      : this.constant(BigInt64Array.of(BigInt(values as number)), [], 'int64');
  }

  float(value: number): string {
    return this.constant(Float32Array.of(value), [], 'float32');
  }

  /** Adds one node; returns its output names (`outputs` of them). */
  node(opType: string, inputs: readonly string[], attributes: Record<string, AttrValue> = {}, outputs = 1): string[] {
    const id = this.counter++;
    const names = Array.from({ length: outputs }, (_, i) => `${opType.toLowerCase()}${id}_${i}`);
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        input: [...inputs],
        output: names,
        name: `${opType}_${id}`,
        attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
      }),
    );
    return names;
  }

  /** A node with one output. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, attributes)[0];
  }

  toBytes(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'ssd2-serving',
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: this.opset })],
      graph: onnx.GraphProto.create({
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
      }),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, type: ElementType, dims: readonly Dim[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: DATA_TYPE[type],
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) => onnx.TensorShapeProto.Dimension.create(typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        }),
      }),
    }),
  });
}

function tensorProto(name: string, values: Float32Array | BigInt64Array | readonly number[], dims: readonly number[], type: ElementType) {
  const raw =
    values instanceof Float32Array || values instanceof BigInt64Array
      ? values
      : type === 'int64'
        ? BigInt64Array.from(values, (v) => BigInt(v))
        : type === 'bool'
          ? Uint8Array.from(values)
          : Float32Array.from(values);
  return onnx.TensorProto.create({
    name,
    dims: [...dims],
    dataType: DATA_TYPE[type],
    rawData: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
  });
}

function attribute(name: string, v: AttrValue) {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return onnx.AttributeProto.create({ name, type: A.INT, i: v });
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: A.INTS, ints: v });
  if ('float' in v) return onnx.AttributeProto.create({ name, type: A.FLOAT, f: v.float });
  return onnx.AttributeProto.create({
    name,
    type: A.TENSOR,
    t: tensorProto(name, v.tensor, v.dims, v.tensor instanceof BigInt64Array ? 'int64' : 'float32'),
  });
}
