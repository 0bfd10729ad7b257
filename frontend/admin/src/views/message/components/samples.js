// Sample values by variable type, for previews and as the campaign wizard's starting data.
const pad = (n) => String(n).padStart(2, '0')

export function sampleValue(variable) {
  const now = new Date()
  const date = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`
  const samples = {
    string: '示例内容',
    thing: '积分兑换',
    number: '100',
    letter: 'VIP',
    symbol: '+',
    character_string: 'A1001',
    time: `${date} ${pad(now.getHours())}:${pad(now.getMinutes())}`,
    date,
    amount: '12.50',
    phone_number: '13800000000',
    car_number: '粤A12345',
    name: '张三',
    phrase: '已完成',
    url: 'https://wedraw.example/',
  }
  const value = samples[variable.type] ?? '示例'
  return variable.max_length ? value.slice(0, variable.max_length) : value
}
